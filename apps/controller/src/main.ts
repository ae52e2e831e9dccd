import 'reflect-metadata';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import { daemonLogger } from '../../daemon/src/logger';
import { notifySystemdReady } from '../../daemon/src/sd-notify';
import { AppModule } from './app.module';
import { BundleService } from './bundles/bundle.service';
import { ControlService } from './control/control.service';
import { ControllerOptions, validateConfig } from './config';
import { ProblemFilter } from './http/problem.filter';
import { openStore } from './store/open';
import type { Store } from './store/store';
import { ensureAdminToken } from './tokens/bootstrap';

export { ConfigError, DEFAULTS, validateConfig } from './config';
export type { ControllerOptions, ControllerConfig } from './config';

export interface RunningController {
  /** Base URL of the REST API, e.g. http://127.0.0.1:7470 (the real port when --http asked for :0). */
  url: string;
  adminTokenPath: string;
  /** The open store (tests and in-process tools; not a stable API). */
  store: Store;
  /** Bundles and the generation$ stream of this controller. */
  bundles: BundleService;
  /** The bound gRPC port (the real one when --grpc asked for port 0). */
  grpcPort: number;
  /** host:port enforcers on this host can dial (0.0.0.0 and :: become loopback). */
  grpcAddress: string;
  close(): Promise<void>;
}

/** Nest's own messages go to pino; route mapping chatter only at debug. */
class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}
  log(message: unknown, context?: string) {
    this.pino.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.pino.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.pino.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.pino.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.pino.trace({ context }, String(message));
  }
}

/**
 * Starts the controller: validates the options (ConfigError on a bad one), opens and
 * migrates the store, makes the first admin token, serves REST + /metrics on `http`.
 */
export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const config = validateConfig(opts);
  const logger = daemonLogger('cordon-controller', config.logLevel, { redact: ['req.headers.authorization', 'token', '*.token'] });
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  let app: NestExpressApplication | undefined;
  try {
    const adminTokenPath = await ensureAdminToken(store, config.dataDir, (msg) => process.stderr.write(msg));
    app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, store, logger }), {
      bodyParser: false,
      logger: new PinoNestLogger(logger),
      abortOnError: false,
    });
    app.disable('x-powered-by');
    // gzip and deflate bodies are inflated by body-parser; the limit counts the inflated bytes.
    app.useBodyParser('json', { limit: config.maxBodyBytes });
    app.useBodyParser('text', { limit: config.maxBodyBytes, type: ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] });
    app.useGlobalFilters(new ProblemFilter(logger));
    await app.listen(config.http.port, config.http.host);
    const addr = app.getHttpServer().address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${addr.port}`;
    const grpcPort = app.get(ControlService).grpcPort;
    const g = config.grpc.host;
    const grpcHost = g === '0.0.0.0' ? '127.0.0.1' : g === '::' ? '[::1]' : g.includes(':') ? `[${g}]` : g;
    const grpcAddress = `${grpcHost}:${grpcPort}`;
    logger.info({ url, store: store.driver, dataDir: config.dataDir, grpc: grpcAddress, certTtlMs: config.certTtlMs }, 'controller started');
    // Type=notify units count the controller as started from here (REST and gRPC listening).
    await notifySystemdReady(`serving ${url}, gRPC ${grpcAddress}`, (err) => logger.warn({ err: err.message }, 'cannot report readiness to systemd'));
    let closed = false;
    const running = app;
    return {
      url,
      adminTokenPath,
      store,
      bundles: app.get(BundleService),
      grpcPort,
      grpcAddress,
      async close() {
        if (closed) return;
        closed = true;
        await running.close();
        await store.close();
        logger.flush?.();
      },
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
