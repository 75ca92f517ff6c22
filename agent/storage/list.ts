import type { ListOptions, ObjectInfo, StorageDriver } from './driver.ts';

/** Every object under prefix, page by page, holding one page in memory at a time. */
export async function* listAll(
  driver: StorageDriver,
  prefix: string,
  options: Omit<ListOptions, 'token'> = {},
): AsyncGenerator<ObjectInfo> {
  let token: string | undefined;
  do {
    const page = await driver.listPage(prefix, token === undefined ? options : { ...options, token });
    yield* page.objects;
    token = page.nextToken;
  } while (token !== undefined);
}
