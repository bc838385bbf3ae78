import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, describeEnv, type Config, type EnvName } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { Lifecycle } from './lifecycle.js';
import { errors, PlantError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>['values'];

export interface CommandContext<O extends Options> {
  readonly values: Values<O>;
  readonly positionals: readonly string[];
  readonly config: Config;
  readonly log: Logger;
  readonly lifecycle: Lifecycle;
}

export interface Command<O extends Options = Options> {
  /** Sub-command name; `undefined` for the bin's default command (`collector --config FILE`). */
  readonly name: string | undefined;
  readonly summary: string;
  readonly usage: string;
  readonly options: O;
  readonly optionHelp: { readonly [K in keyof O]: string };
  /** Positional arguments accepted after the options (default none). */
  readonly positionals?: { readonly min: number; readonly max: number; readonly names: string };
  /** Environment variables this command reads, listed by `--help`. */
  readonly env: readonly EnvName[];
  /** Returns the exit code (default 0). Throwing a `PlantError` ends with its exit code. */
  run(context: CommandContext<O>): Promise<number | void>;
}

export interface Program {
  readonly bin: string;
  readonly summary: string;
  readonly commands: readonly Command[];
}

/** Helps TypeScript infer each command's option types. */
export function defineCommand<O extends Options>(command: Command<O>): Command {
  return command;
}

function commandHelp(program: Program, command: Command): string {
  const lines = [`${command.summary}`, '', `Usage: ${command.usage}`, '', 'Options:'];
  for (const [name, option] of Object.entries(command.options)) {
    const flag = `--${name}${option.type === 'string' ? ' VALUE' : ''}${option.short ? `, -${option.short}` : ''}`;
    lines.push(`  ${flag.padEnd(24)} ${command.optionHelp[name] ?? ''}`);
  }
  lines.push(`  ${'--help, -h'.padEnd(24)} show this help`);
  if (command.env.length > 0) lines.push('', 'Environment:', describeEnv(command.env));
  lines.push('', `Exit codes: 0 done, 1 failed while running, 2 bad usage or config.`, `See \`${program.bin} --help\` for every command.`);
  return lines.join('\n');
}

function programHelp(program: Program): string {
  const lines = [`${program.bin}: ${program.summary}`, '', 'Commands:'];
  for (const command of program.commands) {
    lines.push(`  ${command.usage}`, `      ${command.summary}`);
    if (command.name === undefined) {
      for (const [name, option] of Object.entries(command.options)) {
        lines.push(`        --${name}${option.type === 'string' ? ' VALUE' : ''}  ${command.optionHelp[name] ?? ''}`);
      }
    }
  }
  lines.push('', `Run \`${program.bin} COMMAND --help\` for a command's options and environment.`);
  lines.push('Exit codes: 0 done, 1 failed while running, 2 bad usage or config.');
  return lines.join('\n');
}

function selectCommand(program: Program, argv: readonly string[]): { command: Command; args: string[] } | 'help' {
  const [first, ...rest] = argv;
  const fallback = program.commands.find((command) => command.name === undefined);
  if (first === undefined) {
    if (fallback) return { command: fallback, args: [] };
    return 'help';
  }
  if (first === 'help' || first === '--help' || first === '-h') return 'help';
  const named = program.commands.find((command) => command.name === first);
  if (named) return { command: named, args: rest };
  if (fallback && first.startsWith('-')) return { command: fallback, args: [...argv] };
  const known = program.commands.flatMap((command) => (command.name ? [command.name] : []));
  throw errors.usage(`unknown command ${JSON.stringify(first)}; expected one of: ${known.join(', ')}`);
}

function parse(command: Command, args: string[]): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    const limits = command.positionals ?? { min: 0, max: 0, names: '' };
    if (!parsed.values.help && (parsed.positionals.length < limits.min || parsed.positionals.length > limits.max)) {
      throw new Error(
        limits.max === 0
          ? `unexpected argument ${JSON.stringify(parsed.positionals[0])}`
          : `expected ${limits.names}, got ${parsed.positionals.length} argument(s)`,
      );
    }
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw errors.usage(`${message}\nUsage: ${command.usage}`);
  }
}

/**
 * Runs a bin: picks the command, parses its flags strictly (unknown flags are usage errors),
 * loads the config, and maps the outcome to the exit codes every command shares.
 */
export async function runProgram(program: Program, argv: readonly string[] = process.argv.slice(2)): Promise<never> {
  let log: Logger | undefined;
  let lifecycle: Lifecycle | undefined;
  let exitCode: number = EXIT_OK;
  try {
    const selected = selectCommand(program, argv);
    if (selected === 'help') {
      process.stdout.write(`${programHelp(program)}\n`);
      process.exit(EXIT_OK);
    }
    const { command, args } = selected;
    const { values, positionals } = parse(command, args);
    if (values.help) {
      process.stdout.write(`${commandHelp(program, command)}\n`);
      process.exit(EXIT_OK);
    }
    const config = loadConfig();
    log = createLogger(config.logLevel);
    lifecycle = new Lifecycle(log);
    const code = await command.run({ values, positionals, config, log, lifecycle } as CommandContext<Options>);
    exitCode = code ?? EXIT_OK;
  } catch (error) {
    exitCode = error instanceof PlantError ? error.exitCode : EXIT_FAILED;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof PlantError) {
      process.stderr.write(`${program.bin}: ${message}\n`);
      log?.debug({ err: error }, 'command failed');
    } else if (log) {
      log.error({ err: error }, 'command failed');
    } else {
      process.stderr.write(`${program.bin}: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
    }
  }
  await lifecycle?.shutdown('command finished');
  process.exit(exitCode);
}

export { EXIT_OK, EXIT_FAILED, EXIT_USAGE };
