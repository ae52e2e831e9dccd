import { formatCef } from './syslog';
import type { SecurityEvent } from '../monitoring/events';

const event = (message: string, reason?: string): SecurityEvent => ({ id: 7, at: '2026-12-01T00:00:00.000Z', type: 'audit', action: 'token-create', severity: 'info', message, reason });

describe('hole 16: CEF escaping', () => {
  it('16_cef_lone_cr: a lone CR, LF or CRLF in a value never reaches the collector raw', () => {
    const forged = 'ok\rCEF:0|Cordon|cordon|0.1.0|forged|forged|10|msg=owned';
    const line = formatCef(event(forged, 'a\nb\r\nc'), 'host');
    expect(line).not.toMatch(/[\r\n]/);
    expect(line).toContain('msg=ok\\rCEF:0|Cordon|cordon|0.1.0|forged|forged|10|msg\\=owned');
    expect(line).toContain('cs2=a\\nb\\nc');
    // One record: the escaped copy inside msg is inert text, after the real header.
    expect(line.match(/CEF:0\|/g)).toHaveLength(2); // the real header and the escaped, inert copy inside msg
    expect(line.indexOf('CEF:0|')).toBeLessThan(line.indexOf('msg='));
  });
});
