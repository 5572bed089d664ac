import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { OptionError } from '../core/errors.js';

export const TRAIN_USAGE = `Usage: facesense train --config FILE [options]

Trains a network with the PyTorch package in training/ and exports it to ONNX + manifest where the
model store finds it. If the config's pack does not exist and the config has a "prepare" section
({layout, root, size, channels}), the pack is prepared first.

Options:
  --config FILE      experiment config (training/configs/*.json)
  --resume           continue the run's checkpoint
  --set KEY=VALUE    override a config key (repeatable), e.g. --set epochs=30
  --out DIR          where the exported model goes (default: models/)
  --no-export        train only
  --tta-flip         bake flip averaging into the exported graph
  --python PATH      Python with torch (default: $FACESENSE_PYTHON or /usr/bin/python3)
  -h, --help         this text`;

interface TrainEvent {
  event: string;
  epoch?: number;
  epochs?: number;
  train_loss?: number;
  val_acc?: number;
  eta_s?: number;
  run?: string;
  message?: string;
}

/** Runs a Python module, streaming its JSON event lines to `onEvent` and other lines to stderr. */
function runPython(python: string, args: string[], onEvent: (e: TrainEvent) => void): Promise<number> {
  return new Promise((resolveExit, reject) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', (e) => reject(new OptionError(`cannot start ${python} (${e.message}); install python3-torch or pass --python`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) {
        try {
          onEvent(JSON.parse(line) as TrainEvent);
          return;
        } catch {
          // not an event line: fall through and show it
        }
      }
      process.stderr.write(`${line}\n`);
    });
    child.on('close', (code) => resolveExit(code ?? 1));
  });
}

export async function runTrain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      resume: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true },
      out: { type: 'string', default: 'models' },
      'no-export': { type: 'boolean', default: false },
      'tta-flip': { type: 'boolean', default: false },
      python: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${TRAIN_USAGE}\n`);
    return 0;
  }
  if (values.config === undefined) throw new OptionError('--config is required (see training/configs/)');
  const python = values.python ?? process.env.FACESENSE_PYTHON ?? '/usr/bin/python3';
  let cfg: { pack?: string; prepare?: { layout: string; root: string; size?: number; channels?: number } };
  try {
    cfg = JSON.parse(await readFile(values.config, 'utf8')) as typeof cfg;
  } catch (e) {
    throw new OptionError(`cannot read config ${values.config}: ${(e as Error).message}`);
  }
  if (cfg.pack !== undefined && !existsSync(cfg.pack)) {
    if (cfg.prepare === undefined) throw new OptionError(`pack ${cfg.pack} does not exist; run \`facesense prepare\` or add a "prepare" section to ${values.config}`);
    const { runPrepare } = await import('./prepare.js');
    const p = cfg.prepare;
    const code = await runPrepare(['--layout', p.layout, '--root', p.root, '--out', cfg.pack, '--size', String(p.size ?? 48), '--channels', String(p.channels ?? 1)]);
    if (code !== 0) return code;
  }
  const trainArgs = ['-m', 'training.train', '--config', values.config, ...(values.resume ? ['--resume'] : []), ...(values.set ?? []).flatMap((s) => ['--set', s])];
  let run: string | undefined;
  let failed: string | undefined;
  const code = await runPython(python, trainArgs, (e) => {
    if (e.event === 'epoch') {
      const eta = e.eta_s === undefined ? '' : `, ${Math.round(e.eta_s / 60)} min left`;
      process.stderr.write(`epoch ${e.epoch}/${e.epochs}: loss ${e.train_loss?.toFixed(4)}, val acc ${((e.val_acc ?? Number.NaN) * 100).toFixed(2)}%${eta}\n`);
    } else if (e.event === 'start' || e.event === 'done') {
      run = e.run ?? run;
      process.stderr.write(`${e.event}: ${JSON.stringify(e)}\n`);
    } else if (e.event === 'error') failed = e.message;
  });
  if (code !== 0 || failed !== undefined) {
    process.stderr.write(`facesense train: training failed${failed === undefined ? ` (exit ${code})` : `: ${failed}`}\n`);
    return 1;
  }
  if (values['no-export'] || run === undefined) return 0;
  const exportArgs = ['-m', 'training.export', '--run', run, '--out', values.out, ...(values['tta-flip'] ? ['--tta-flip'] : [])];
  return runPython(python, exportArgs, (e) => process.stderr.write(`${JSON.stringify(e)}\n`));
}
