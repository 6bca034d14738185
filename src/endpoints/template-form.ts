import { type CredentialField, MAX_CREDENTIAL_FIELDS } from '../upstream/credentials.ts';

/**
 * The credential template as the start page and the manage page post it: row `i` of the Advanced
 * section is `credential_in_i`, `credential_name_i`, `credential_prefix_i`, `credential_label_i`.
 * A row whose place is empty is unused. The rows become the JSON API's `credentials`, so both
 * doors apply the same rules (credential-template.ts).
 */
export const TEMPLATE_ROWS = MAX_CREDENTIAL_FIELDS;

export interface TemplateRow {
  in: string;
  name: string;
  prefix: string;
  label: string;
}

/** The rows a form posted, as `credentials` (unvalidated), or undefined when every row is unused. */
export function templateFromForm(get: (name: string) => string | null | undefined): Record<string, string>[] | undefined {
  const rows: Record<string, string>[] = [];
  for (let index = 0; index < TEMPLATE_ROWS; index++) {
    const place = (get(`credential_in_${index}`) ?? '').trim();
    if (!place) continue;
    const row: Record<string, string> = { in: place };
    for (const part of ['name', 'prefix', 'label'] as const) {
      const value = get(`credential_${part}_${index}`);
      if (value) row[part] = value;
    }
    rows.push(row);
  }
  return rows.length > 0 ? rows : undefined;
}

/** The rows a page shows: the template's fields, then empty rows up to TEMPLATE_ROWS. */
export function templateRows(fields: readonly (CredentialField | Partial<TemplateRow>)[] = []): TemplateRow[] {
  return Array.from({ length: TEMPLATE_ROWS }, (_, index) => {
    const field = fields[index];
    return { in: field?.in ?? '', name: field?.name ?? '', prefix: field?.prefix ?? '', label: field?.label ?? '' };
  });
}
