// SPDX-License-Identifier: Apache-2.0
/**
 * Debian's Chromium (/usr/bin/chromium), headless, driven by playwright-core
 * (which downloads no browser), in a fresh profile directory removed on close.
 * Screenshots go to test/console/screenshots/ (not committed).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CORDON_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = path.join(__dirname, 'screenshots');
export const haveChromium = () => fs.existsSync(CHROMIUM);

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class Browser {
  private constructor(
    readonly context: BrowserContext,
    private readonly profile: string,
  ) {}

  /** Problems the pages reported: console errors (a CSP violation is one) and uncaught exceptions. */
  readonly problems: string[] = [];

  static async launch(): Promise<Browser> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1360, height: 860 },
      timeout: 30_000,
    });
    context.setDefaultTimeout(15_000);
    return new Browser(context, profile);
  }

  async page(): Promise<Page> {
    const p = await this.context.newPage();
    p.on('console', (m) => m.type() === 'error' && this.problems.push(`console: ${m.text()}`));
    p.on('pageerror', (e) => this.problems.push(`pageerror: ${e.message}`));
    return p;
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

/** Opens the console at `url` and signs in with `token`; waits for the tabs. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.fill('#token', token);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#tab-map');
}

export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
