import { parseArgs } from 'node:util';
import { OptionError } from '../core/errors.js';
import { DEFAULT_QUEUE } from '../queue/batches.js';
import { createQueueWorker, DEFAULT_WORKER_CONCURRENCY } from '../queue/worker.js';
import { parseNumberOption, RULES } from '../core/validate.js';

export const WORKER_USAGE = `Usage: facesense worker --redis URL [options]

Processes batch jobs from the queue (\`facesense batch submit\`, and the video segments of
\`facesense serve --redis\`) until stopped. Start any number, on
any machine that reads the inputs at the paths they were submitted with. A worker started before
Redis is up waits for it, and one that loses Redis reconnects.

Options:
  --redis URL             Redis of the queue (required)
  --concurrency N         jobs in flight in this process (default: 2: one job's file read, Redis
                          and PostgreSQL round trips overlap the other's analysis; inferences
                          still run one at a time per process)
  --threads N             ONNX Runtime threads per model (default: one per core)
  --queue NAME            queue name (default: ${DEFAULT_QUEUE})
  --lock-ms N             job lock: a worker that dies is noticed this long after (default: 30000)
  --quiet                 no per-job log lines
  -h, --help              this text

SIGTERM or Ctrl-C: takes no new job, finishes the current ones, exits 0 (a second signal exits at
once; the unfinished jobs are then redelivered to other workers once their lock expires).`;

export async function runWorker(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      redis: { type: 'string' },
      concurrency: { type: 'string' },
      threads: { type: 'string' },
      queue: { type: 'string', default: DEFAULT_QUEUE },
      'lock-ms': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  if (values.redis === undefined) throw new OptionError('--redis URL is required');
  const threads = parseNumberOption('threads', values.threads, RULES.threads);
  const lockMs = parseNumberOption('lock-ms', values['lock-ms'], RULES.lockMs);
  const concurrency = parseNumberOption('concurrency', values.concurrency, RULES.concurrency) ?? DEFAULT_WORKER_CONCURRENCY;
  const log = (line: string) => process.stderr.write(`[worker ${process.pid}] ${line}\n`);
  const w = createQueueWorker({
    redisUrl: values.redis,
    queue: values.queue,
    concurrency,
    ...(threads === undefined ? {} : { threads }),
    ...(lockMs === undefined ? {} : { lockDurationMs: lockMs }),
    log: values.quiet ? (l) => (l.startsWith('done ') ? undefined : log(l)) : log,
  });
  log(`waiting for jobs on ${values.redis} (queue "${values.queue}")`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      log(`${sig}: finishing the current job(s), taking no new one`);
      void w.close().then(resolve, resolve);
    };
    process.on('SIGTERM', () => stop('SIGTERM')).on('SIGINT', () => stop('SIGINT'));
  });
  log('stopped');
  return 0;
}
