/**
 * A small DICOM Part 10 writer for test fixtures: 128-byte preamble, "DICM", a file meta group
 * (Explicit VR Little Endian) and a data set in Explicit VR Little Endian with native
 * (uncompressed) Pixel Data. Enough for dcmdump, pydicom and any Part 10 reader to parse the
 * files, including a multi-frame tiled slide-microscopy instance.
 */

type Value = string | number | number[] | Buffer;

interface Element {
  tag: [number, number];
  vr: string;
  value: Value;
}

const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UT", "UN"]);
const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";

export const SOP_CLASS = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
  SM: "1.2.840.10008.5.1.4.1.1.77.1.6",
} as const;

function encodeValue(vr: string, value: Value): Buffer {
  if (Buffer.isBuffer(value)) return value.length % 2 ? Buffer.concat([value, Buffer.alloc(1)]) : value;
  if (vr === "US") return Buffer.from(new Uint16Array([value as number]).buffer);
  if (vr === "UL") return Buffer.from(new Uint32Array([value as number]).buffer);
  const text = Array.isArray(value) ? value.join("\\") : String(value);
  // UIDs pad with NUL, text with a space (PS3.5 6.2).
  const pad = vr === "UI" ? "\0" : " ";
  return Buffer.from(text.length % 2 ? text + pad : text, "latin1");
}

function encodeElement({ tag, vr, value }: Element): Buffer {
  const body = encodeValue(vr, value);
  const long = LONG_VRS.has(vr);
  const header = Buffer.alloc(long ? 12 : 8);
  header.writeUInt16LE(tag[0], 0);
  header.writeUInt16LE(tag[1], 2);
  header.write(vr, 4, "latin1");
  if (long) header.writeUInt32LE(body.length, 8);
  else header.writeUInt16LE(body.length, 6);
  return Buffer.concat([header, body]);
}

function encodeSorted(elements: Element[]): Buffer {
  const sorted = [...elements].sort((a, b) => a.tag[0] - b.tag[0] || a.tag[1] - b.tag[1]);
  return Buffer.concat(sorted.map(encodeElement));
}

export interface InstanceSpec {
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  patientId: string;
  modality: string;
  studyDate: string;
  seriesDescription: string;
  instanceNumber: number;
  /** Frame size; for SM the tile size. */
  rows: number;
  columns: number;
  frames: number;
  /** 1 = MONOCHROME2 16-bit (CT/MR), 3 = RGB 8-bit (SM). */
  samplesPerPixel: 1 | 3;
  /** Deterministic pixel fill seed. */
  seed: number;
}

function pixelBytes(spec: InstanceSpec): Buffer {
  const bytesPerSample = spec.samplesPerPixel === 3 ? 1 : 2;
  const size = spec.rows * spec.columns * spec.samplesPerPixel * bytesPerSample * spec.frames;
  const data = Buffer.allocUnsafe(size);
  let x = spec.seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5; // xorshift32: cheap, deterministic, incompressible
    data.writeUInt32LE(x >>> 0, i);
  }
  return data;
}

/** A complete Part 10 file for one instance. */
export function dicomFile(spec: InstanceSpec): Buffer {
  const meta = encodeSorted([
    { tag: [0x0002, 0x0001], vr: "OB", value: Buffer.from([0, 1]) },
    { tag: [0x0002, 0x0002], vr: "UI", value: spec.sopClassUid },
    { tag: [0x0002, 0x0003], vr: "UI", value: spec.sopInstanceUid },
    { tag: [0x0002, 0x0010], vr: "UI", value: EXPLICIT_VR_LE },
    { tag: [0x0002, 0x0012], vr: "UI", value: "1.2.826.0.1.3680043.10.1500.1" },
    { tag: [0x0002, 0x0013], vr: "SH", value: "BUCKETFS_TEST" },
  ]);
  const groupLength = encodeElement({ tag: [0x0002, 0x0000], vr: "UL", value: meta.length });
  const rgb = spec.samplesPerPixel === 3;
  const elements: Element[] = [
    { tag: [0x0008, 0x0016], vr: "UI", value: spec.sopClassUid },
    { tag: [0x0008, 0x0018], vr: "UI", value: spec.sopInstanceUid },
    { tag: [0x0008, 0x0020], vr: "DA", value: spec.studyDate },
    { tag: [0x0008, 0x0060], vr: "CS", value: spec.modality },
    { tag: [0x0008, 0x103e], vr: "LO", value: spec.seriesDescription },
    { tag: [0x0010, 0x0020], vr: "LO", value: spec.patientId },
    { tag: [0x0020, 0x000d], vr: "UI", value: spec.studyInstanceUid },
    { tag: [0x0020, 0x000e], vr: "UI", value: spec.seriesInstanceUid },
    { tag: [0x0020, 0x0013], vr: "IS", value: String(spec.instanceNumber) },
    { tag: [0x0028, 0x0002], vr: "US", value: spec.samplesPerPixel },
    { tag: [0x0028, 0x0004], vr: "CS", value: rgb ? "RGB" : "MONOCHROME2" },
    { tag: [0x0028, 0x0010], vr: "US", value: spec.rows },
    { tag: [0x0028, 0x0011], vr: "US", value: spec.columns },
    { tag: [0x0028, 0x0100], vr: "US", value: rgb ? 8 : 16 },
    { tag: [0x0028, 0x0101], vr: "US", value: rgb ? 8 : 12 },
    { tag: [0x0028, 0x0102], vr: "US", value: rgb ? 7 : 11 },
    { tag: [0x0028, 0x0103], vr: "US", value: 0 },
    { tag: [0x7fe0, 0x0010], vr: rgb ? "OB" : "OW", value: pixelBytes(spec) },
  ];
  if (rgb) elements.push({ tag: [0x0028, 0x0006], vr: "US", value: 0 });
  if (spec.frames > 1) {
    // A tiled pyramid level: TotalPixelMatrix is a square-ish grid of the tiles (TILED_FULL).
    const across = Math.ceil(Math.sqrt(spec.frames));
    elements.push(
      { tag: [0x0028, 0x0008], vr: "IS", value: String(spec.frames) },
      { tag: [0x0020, 0x9311], vr: "CS", value: "TILED_FULL" },
      { tag: [0x0048, 0x0006], vr: "UL", value: across * spec.columns },
      { tag: [0x0048, 0x0007], vr: "UL", value: Math.ceil(spec.frames / across) * spec.rows },
    );
  }
  return Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), groupLength, meta, encodeSorted(elements)]);
}
