import { SseParser } from './sse';

test('events split anywhere across chunks come out whole, with their id; comments (heartbeats) are skipped', () => {
  const text = 'retry: 3000\n\nevent: ready\nid: ab12cd34.0\ndata: {"cursor":"ab12cd34.0"}\n\n: keep-alive\n\nevent: flows\nid: ab12cd34.7\ndata: {"items":[1,2]}\n\n';
  for (const size of [1, 3, 7, text.length]) {
    const p = new SseParser();
    const out = [];
    for (let i = 0; i < text.length; i += size) out.push(...p.push(text.slice(i, i + size)));
    expect(out).toEqual([
      { event: 'ready', id: 'ab12cd34.0', data: '{"cursor":"ab12cd34.0"}' },
      { event: 'flows', id: 'ab12cd34.7', data: '{"items":[1,2]}' },
    ]);
  }
});

test('CRLF line ends, multi-line data and a default event name', () => {
  expect(new SseParser().push('data: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb' }]);
});

test('a stream that never ends an event is refused past the buffer bound, not held', () => {
  const p = new SseParser(100);
  expect(() => p.push(`data: ${'x'.repeat(200)}`)).toThrow(/without an event end/);
});
