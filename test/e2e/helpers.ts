import * as net from 'node:net';

/** A TCP port free right now on 127.0.0.1 (the controller reports its bound gRPC port now: prefer --grpc HOST:0 and ctl.grpcAddress). */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
