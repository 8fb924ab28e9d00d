/** Deterministic test bytes: byte i of a ramp is a function of i, so any offset can be checked. */
export function ramp(length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + (i >> 8) * 7 + seed) & 0xff;
  return out;
}
