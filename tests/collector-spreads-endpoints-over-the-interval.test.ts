import { describe, expect, it } from 'vitest';
import { pollPhases } from '../collectors/index.js';

describe('poll phases', () => {
  it('spread endpoints evenly over the interval and keep the units of one endpoint together', () => {
    const devices = [
      { endpoint: 'a:502', intervalMs: 1000 },
      { endpoint: 'a:502', intervalMs: 1000 },
      { endpoint: 'b:502', intervalMs: 1000 },
      { endpoint: 'c:502', intervalMs: 1000 },
      { endpoint: 'd:502', intervalMs: 1000 },
      { endpoint: 'b:502', intervalMs: 1000 },
    ];
    expect(pollPhases(devices)).toEqual([0, 0, 250, 500, 750, 250]);
  });

});
