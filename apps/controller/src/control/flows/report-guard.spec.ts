import { Registry } from 'prom-client';
import { ReportGuard } from './report-guard';

const batch = (src: string) => ({ enforcer: 'gw-1', flows: [{ src, dst: '192.0.2.1', firstSeen: Date.now(), lastSeen: Date.now() }] }) as never;
const kept = (g: ReportGuard, src: string) => (g.filter('gw-1', batch(src)) as unknown as { flows: unknown[] }).flows.length;

describe('report guard: the site scope', () => {
  it('follows the site as its addresses change, and keeps its scope while they do not', () => {
    const g = new ReportGuard(new Registry());
    g.setSite(['10.1.0.0/16']);
    expect(kept(g, '10.1.2.3')).toBe(1);
    expect(kept(g, '10.2.2.3')).toBe(0);
    const scope = (g as unknown as { site: unknown }).site;
    g.setSite(['10.1.0.0/16']); // a generation that changed a policy only
    expect((g as unknown as { site: unknown }).site).toBe(scope);
    g.setSite(['10.2.0.0/16']); // the same count, another address
    expect(kept(g, '10.1.2.3')).toBe(0);
    expect(kept(g, '10.2.2.3')).toBe(1);
    g.setSite(['10.2.0.0/16', '10.3.0.0/16']);
    expect(kept(g, '10.3.0.1')).toBe(1);
  });
});
