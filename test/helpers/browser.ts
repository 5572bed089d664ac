import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (apt package `chromium`); nothing here downloads a browser. */
export const CHROMIUM = process.env.FACESENSE_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  // --no-sandbox: CI and these machines run tests as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', ...extraArgs] });
}
