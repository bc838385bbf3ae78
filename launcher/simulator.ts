import Type, { type Static } from 'typebox';
import Value from 'typebox/value';

/** The line `collector simulate` prints on stdout once it serves (docs: docs/interfaces.md). */
export const ListeningEvent = Type.Object({
  event: Type.Literal('listening'),
  host: Type.String(),
  ports: Type.Array(Type.Integer()),
  devices: Type.Array(
    Type.Object({ id: Type.String(), loc_id: Type.String(), port: Type.Integer(), unit_id: Type.Integer() }, { additionalProperties: true }),
  ),
}, { additionalProperties: true });

export type ListeningEvent = Static<typeof ListeningEvent>;

/** The listening event when `line` is one, else `undefined` (the simulator may print other lines). */
export function parseListeningLine(line: string): ListeningEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  return Value.Check(ListeningEvent, parsed) ? parsed : undefined;
}
