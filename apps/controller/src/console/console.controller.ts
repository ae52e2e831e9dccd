// SPDX-License-Identifier: Apache-2.0
/**
 * Serves the web console at `/` (apps/console). The page itself is public and
 * holds no data: it signs in with an API token that stays in its memory and
 * sends it as a Bearer header on every REST call, where the usual roles apply.
 */
import { Controller, Get, Param, Res } from '@nestjs/common';
import { Public } from '../auth/roles';
import { Problem } from '../http/problem';
import { CONSOLE_CSP, ConsoleAssets } from './console-assets';

interface Reply {
  status(code: number): Reply;
  setHeader(name: string, value: string): void;
  send(body: Buffer): void;
}

const HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-cache',
};

@Controller()
@Public()
export class ConsoleController {
  private readonly assets = new ConsoleAssets();

  @Get('/')
  index(@Res() res: Reply) {
    const a = this.assets.get('index.html');
    const js = this.assets.get('app.js');
    if (!a || !js) throw new Problem(503, 'Console not built', 'the console bundle is missing: run npm run build:console (npm run setup does it)');
    this.send(res, a.body, a.type);
  }

  @Get('console/:file')
  file(@Param('file') file: string, @Res() res: Reply) {
    const a = file === 'index.html' ? null : this.assets.get(file);
    if (!a) throw new Problem(404, 'Not Found', `the console has no file "${file}" (${ConsoleAssets.names.filter((n) => n !== 'index.html').join(', ')})`);
    this.send(res, a.body, a.type);
  }

  private send(res: Reply, body: Buffer, type: string) {
    for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v);
    res.setHeader('content-type', type);
    res.status(200).send(body);
  }
}
