import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Kysely } from 'kysely';
import Type from 'typebox';
import Value from 'typebox/value';
import { LineCounter, isMap, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { errors } from '../../runtime/errors.js';
import type { Database } from '../../db/schema.js';
import { LocationSaveRefused, saveLocation, thresholdProblems } from '../queries/locations.js';
import { commandActor, plantPrefixProblem } from '../../db/index.js';
import { LocId, LocationInput } from '../schemas.js';

const ImportedLocation = Type.Object({ loc_id: LocId, ...LocationInput.properties }, { additionalProperties: false });

/**
 * `plant-climate locations import FILE.yaml`: the same save as PUT /v1/locations/{locId} (threshold versions, audit entries, actor = the OS user), for
 * a whole file, in one transaction. The file is a list of locations, or `locations:` holding one:
 *
 *   locations:
 *     - { loc_id: A-01, name: Oven hall, plant: P1, area: North, temperature_max: 30 }
 *
 * Every problem is reported as FILE:LINE field: message, and nothing is written unless all rows are valid.
 */
export async function importLocations(db: Kysely<Database>, file: string): Promise<{ created: number; updated: number }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw errors.config(file, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: YamlNode | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const line = first?.linePos?.[0]?.line ?? 1;
    throw errors.config(`${file}:${line}`, `not valid YAML: ${first?.message.split('\n')[0] ?? 'parse error'}`);
  }
  const root = document.contents;
  const list = isMap(root) ? root.get('locations', true) : root;
  if (!isSeq(list)) throw errors.config(`${file}:${lineOf(root)}`, 'expected a list of locations (or a `locations:` key holding one)');

  const problems: string[] = [];
  const rows: { loc_id: string; input: LocationInput; line: number }[] = [];
  const seen = new Map<string, number>();
  list.items.forEach((item, index) => {
    const node = item as YamlNode;
    const line = lineOf(node);
    const value: unknown = (item as { toJSON?: () => unknown }).toJSON?.() ?? item;
    const fieldLine = (field: string) => (isMap(node) ? lineOf(node.get(field, true)) || line : line);
    if (!Value.Check(ImportedLocation, value)) {
      for (const error of Value.Errors(ImportedLocation, value)) {
        if (error.keyword === 'boolean') continue;
        const field = error.instancePath.split('/').filter(Boolean).join('.');
        const params = error.params as { requiredProperties?: string[]; additionalProperties?: string[] };
        const named = field || params.requiredProperties?.join(', ') || params.additionalProperties?.join(', ') || `locations[${index}]`;
        problems.push(`${file}:${field ? fieldLine(field) : line} ${named}: ${error.message}`);
      }
      return;
    }
    const { loc_id, ...input } = value;
    for (const problem of thresholdProblems(input)) problems.push(`${file}:${line} ${problem.split(' ')[0] ?? 'thresholds'}: ${problem}`);
    const prefixProblem = plantPrefixProblem(loc_id, input.plant);
    if (prefixProblem) problems.push(`${file}:${fieldLine('plant')} plant: ${prefixProblem}`);
    const previous = seen.get(loc_id);
    if (previous !== undefined) problems.push(`${file}:${line} loc_id: ${loc_id} is listed twice (first at line ${previous})`);
    seen.set(loc_id, line);
    rows.push({ loc_id, input, line });
  });
  if (problems.length > 0) throw errors.config(file, `${problems.length} problem(s); nothing imported:\n${problems.join('\n')}`);

  const actor = commandActor();
  const now = new Date();
  return db.transaction().execute(async (trx) => {
    let created = 0;
    for (const row of rows) {
      try {
        // The file is the reason for a row that gives none: the audit entry names it.
        const input = { ...row.input, reason: row.input.reason ?? `imported from ${basename(file)}` };
        const result = await saveLocation(trx, row.loc_id, input, { actor, now });
        if (result.created) created += 1;
      } catch (error) {
        if (error instanceof LocationSaveRefused) throw errors.config(`${file}:${row.line}`, `${row.loc_id}: ${error.message}; nothing imported`);
        throw error;
      }
    }
    return { created, updated: rows.length - created };
  });
}
