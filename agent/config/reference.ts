import { SETTINGS, type SettingGroup } from './settings.ts';
import { IGNORED_WALG_PREFIXES, IGNORED_WALG_SETTINGS, UNSUPPORTED_WALG_SETTINGS, storageAliases } from './walg-settings.ts';

// The configuration reference in Markdown, made from the settings table:
// docs/configuration.md carries this text, and a test fails if the two differ.

const GROUP_TITLES: Record<SettingGroup, string> = {
  store: 'Store (set exactly one)',
  s3: 'S3 and S3-compatible stores',
  gcs: 'Google Cloud Storage',
  azure: 'Azure Blob Storage',
  codec: 'Compression and encryption',
  transfer: 'Transfers, deadlines and retries',
  agent: 'Agent, backups and the client',
  retention: 'Retention',
  postgres: 'PostgreSQL connection',
};

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function configurationReference(): string {
  const lines: string[] = [];
  for (const group of Object.keys(GROUP_TITLES) as SettingGroup[]) {
    const specs = SETTINGS.filter((s) => s.group === group);
    if (specs.length === 0) continue;
    lines.push(`#### ${GROUP_TITLES[group]}`, '', '| variable | default | flag | meaning |', '|---|---|---|---|');
    for (const s of specs) {
      const name = [s.name, ...(s.aliases ?? [])].map((n) => `\`${n}\``).join(', ') + (s.secret ? ' (secret)' : '');
      lines.push(`| ${name} | ${s.default === undefined ? '' : `\`${cell(s.default)}\``} | ${s.flag ? `\`--${s.flag}\`` : ''} | ${cell(s.doc)} |`);
    }
    lines.push('');
  }
  // WAL-G's (and Spilo's) variables that walship does not implement, each with its reason.
  const names = (name: string) => [name, ...storageAliases(name)].map((n) => `\`${n}\``).join(', ');
  lines.push('#### WAL-G and Spilo settings accepted and ignored, with a warning', '', '| variable | why |', '|---|---|');
  for (const [name, why] of Object.entries(IGNORED_WALG_SETTINGS)) lines.push(`| ${names(name)} | ${cell(why)} |`);
  for (const [prefix, why] of Object.entries(IGNORED_WALG_PREFIXES)) lines.push(`| \`${prefix}*\` | ${cell(why)} |`);
  lines.push('', '#### WAL-G settings refused, with what to do instead', '', '| variable | why, and what to do |', '|---|---|');
  for (const [name, why] of Object.entries(UNSUPPORTED_WALG_SETTINGS)) lines.push(`| ${names(name)} | ${cell(why)} |`);
  return lines.join('\n');
}
