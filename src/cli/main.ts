import { FacesenseError } from '../core/errors.js';
import { TERMS } from '../licences.js';
import { packageVersion } from '../version.js';
import { ANALYZE_USAGE, runAnalyze } from './analyze.js';
import { isBrokenPipe } from './output.js';

const USAGE = `facesense — face attribute analysis and the toolkit to train and evaluate its models

Usage: facesense <command> [options]

Commands:
  analyze <inputs>...   detect faces in photos and read their attributes
  batch <command>       large batches: resumable local runs (batch run), BullMQ queue (batch submit ...)
  worker                process queued batch jobs (BullMQ on Redis)
  prepare               turn a dataset into a training pack
  merge-packs           join training packs for a joint multi-task network
  teach                 write a teacher model's predictions into a pack (distillation targets)
  prepare-sequences     per-frame embeddings of a dataset's sequences (for sequence models)
  train                 train a model from a config (PyTorch) and export it to ONNX
  eval                  measure a model on a labelled dataset (report.json, CSV tables, report.html)
  compare <reports>...  compare eval reports side by side (accuracy differences with 95% CIs)
  split                 write the seeded UTKFace train/val/test split file
  video <file>          track faces through a video: per-frame scores, track summary, timeline
  explain <image>       occlusion saliency: which parts of each face the model's prediction rests on
  embed                 a model's embeddings of a dataset split (.npy) and their PCA / UMAP maps
  filters               first-layer filters as images; filter similarity between models (paper 000)
  sweep-report <table>  a sweep's metric over two grid keys as a heat map (paper 000's studies)
  models                list, verify and fetch the models and detector weights, with their licences
  serve                 an HTTP service: images, video jobs, a live WebSocket stream (OpenAPI at /docs)

Run \`facesense <command> --help\` for a command's options, \`facesense --version\` for the version.

${TERMS}`;

type Command = (args: string[]) => Promise<number>;

/** Commands are loaded lazily so that `analyze` does not pay for the others' imports. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  analyze: async () => runAnalyze,
  batch: async () => (await import('./batch.js')).runBatch,
  worker: async () => (await import('./worker.js')).runWorker,
  prepare: async () => (await import('./prepare.js')).runPrepare,
  'merge-packs': async () => (await import('./merge-packs.js')).runMergePacks,
  teach: async () => (await import('./teach.js')).runTeach,
  'prepare-sequences': async () => (await import('./prepare-sequences.js')).runPrepareSequences,
  train: async () => (await import('./train.js')).runTrain,
  eval: async () => (await import('./eval.js')).runEval,
  compare: async () => (await import('./compare.js')).runCompare,
  split: async () => (await import('./split.js')).runSplit,
  video: async () => (await import('./video.js')).runVideo,
  filters: async () => (await import('./filters.js')).runFilters,
  embed: async () => (await import('./embed.js')).runEmbed,
  explain: async () => (await import('./explain.js')).runExplain,
  'sweep-report': async () => (await import('./sweep-report.js')).runSweepReport,
  models: async () => (await import('./models.js')).runModels,
  serve: async () => (await import('./serve.js')).runServe,
};

/** CLI entry: returns the exit code. Usage errors → 2 with the message; typed errors → 1. */
export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`| head -1`) closes stdout: what is left unprinted is not wanted, and
  // the command ends quietly with 0 (src/cli/output.ts stops the result-writing commands early).
  process.stdout.on('error', (e) => {
    if (!isBrokenPipe(e)) throw e;
  });
  const [cmd, ...rest] = argv;
  // --version works before or after any command (options after `--` are the command's own).
  const own = argv.indexOf('--');
  if (['--version', '-V', 'version'].includes(cmd ?? '') || (own === -1 ? rest : rest.slice(0, own - 1)).includes('--version')) {
    process.stdout.write(`facesense ${packageVersion()}\n`);
    return 0;
  }
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return cmd === undefined ? 2 : 0;
  }
  const load = COMMANDS[cmd];
  if (load === undefined) {
    process.stderr.write(`facesense: unknown command "${cmd}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (e) {
    if (isBrokenPipe(e)) return 0;
    if (e instanceof FacesenseError) {
      process.stderr.write(`facesense ${cmd}: ${e.message} [${e.code}]\n`);
      return e.code === 'INVALID_OPTION' ? 2 : 1;
    }
    if (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`facesense ${cmd}: ${e.message}\n\n${cmd === 'analyze' ? ANALYZE_USAGE : ''}\n`);
      return 2;
    }
    throw e;
  }
}
