import type { CaseResult } from './common.js';
import type { ChannelOptions } from './serve.js';
export async function workersChannel(_o: ChannelOptions): Promise<CaseResult[]> {
  return [];
}
