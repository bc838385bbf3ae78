import { parseGatewayConfig } from '../../collectors/index.js';

/**
 * The problems the gateway config parser reports for `text`, one `file:line field: message` per
 * entry (the first line of its error is the summary), or none when the config is accepted. The
 * file is named /etc/plant/gw.yaml, so messages read `gw.yaml:LINE …`.
 */
export function gatewayConfigProblems(text: string): string[] {
  try {
    parseGatewayConfig(text, '/etc/plant/gw.yaml');
  } catch (error) {
    return (error as Error).message.split('\n').slice(1);
  }
  return [];
}
