import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/redis/connection/framed.js';

describe('RESP frames', () => {
  it('encode a command with string, number and byte arguments as Redis reads it', () => {
    const envelope = Buffer.from([0x89, 0x00, 0x0d, 0x0a, 0xff]);
    const frame = encodeFrame('XADD', ['orders', 'MAXLEN', '~', 1000, '*', '__data__', envelope]);
    const expected = Buffer.concat([
      Buffer.from('*8\r\n$4\r\nXADD\r\n$6\r\norders\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$4\r\n1000\r\n$1\r\n*\r\n$8\r\n__data__\r\n$5\r\n'),
      envelope,
      Buffer.from('\r\n'),
    ]);
    expect(frame.equals(expected)).toBe(true);
  });

  it('count UTF-8 bytes, not characters, and accept empty arguments', () => {
    const frame = encodeFrame('RPUSH', ['zamówienia', Buffer.alloc(0), '', 'ü'.repeat(5)]);
    expect(frame.toString('utf8')).toBe('*5\r\n$5\r\nRPUSH\r\n$11\r\nzamówienia\r\n$0\r\n\r\n$0\r\n\r\n$10\r\nüüüüü\r\n');
  });
});
