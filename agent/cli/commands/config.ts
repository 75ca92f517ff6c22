import type { Command } from 'commander';
import { configurationReference } from '../../config/reference.ts';
import { settingNamed } from '../../config/settings.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

export function registerConfigCommands(program: Command, run: CommandRunner): void {
  const config = program.command('config').description('inspect the configuration');

  config
    .command('show')
    .description('print each setting given anywhere, its value and where it came from (secrets hidden), after validating everything')
    .action(() =>
      run(async (ctx) => {
        const { raw } = await ctx.loadedConfig();
        for (const [name, value] of [...raw.entries()].sort(([a], [b]) => a.localeCompare(b))) {
          const shown = settingNamed(name)?.secret ? '(secret, hidden)' : value.value.includes('\n') ? '(multi-line value)' : value.value;
          writeLine(ctx.io.stdout, `${name}=${shown}    # from ${value.source}`);
        }
      }),
    );

  config
    .command('metrics')
    .description('print the metrics reference (Markdown, as in docs/metrics.md), made from the metrics registry')
    .action(() =>
      run(async (ctx) => {
        const { metricsReference } = await import('../../daemon/metrics-reference.ts');
        writeLine(ctx.io.stdout, await metricsReference());
      }),
    );

  config
    .command('reference')
    .description('print the configuration reference (Markdown, as in docs/configuration.md), made from the settings table')
    .action(() =>
      run(async (ctx) => {
        writeLine(ctx.io.stdout, configurationReference());
      }),
    );
}
