// Fills the gaps of the firebase-tools storage emulator (15.34.x) where it differs from the real
// GCS JSON API in ways bucketfs depends on. Test infrastructure only: the production code
// (src/store/gcs/) is written against real GCS, and this makes the emulator behave like it.
// Each block names the real-GCS behaviour it provides:
//   * /storage/v1 prefix accepted everywhere (the `apiEndpoint` client option adds it)
//   * buckets: create (409 if it exists), get, delete (409 if not empty)
//   * preconditions ifGenerationMatch / ifGenerationNotMatch / ifSourceGenerationMatch -> 412
//   * media downloads streamed from disk with Range, 416 for a range starting past the end
//     (stock: reads the whole blob per request and ignores unsatisfiable ranges)
//   * compose (1..32 sources, source generations, destination metadata and preconditions)
//   * chunked resumable uploads (Content-Range, 308 + Range; stock keeps only the first chunk)
//   * listing: maxResults counts items + prefixes, prefixes paginated, stable page tokens
//   * unique, increasing generations (stock uses Date.now(), which collides within 1 ms)
"use strict";
const fs = require("node:fs");
const path = require("node:path");

module.exports = function installOverlay(ftDir) {
  const lib = (p) => require(path.join(ftDir, "lib", p));
  const express = require(require.resolve("express", { paths: [ftDir] }));
  const serverModule = lib("emulator/storage/server");
  const metadataModule = lib("emulator/storage/metadata");
  const { NotFoundError } = lib("emulator/storage/errors");
  const { UploadStatus } = lib("emulator/storage/upload");
  const { crc32cToString } = lib("emulator/storage/crc");

  let lastGeneration = 0;
  const nextGeneration = () => {
    lastGeneration = Math.max(Date.now() * 1000, lastGeneration + 1);
    return lastGeneration;
  };
  const StockMetadata = metadataModule.StoredFileMetadata;
  metadataModule.StoredFileMetadata = class extends StockMetadata {
    constructor(options, ...rest) {
      super(options && !options.generation ? { ...options, generation: nextGeneration() } : options, ...rest);
    }
  };

  const stockCreateApp = serverModule.createApp;
  serverModule.createApp = async function createApp(projectId, emulator) {
    const stock = await stockCreateApp(projectId, emulator);
    const app = express();
    app.use((req, _res, next) => {
      if (req.url.startsWith("/storage/v1/")) req.url = req.url.slice("/storage/v1".length);
      next();
    });
    const router = express.Router();
    addPreconditions(router, emulator);
    addMediaDownload(router, emulator);
    addBuckets(router, emulator);
    addCompose(router, emulator);
    addChunkedResumable(router, emulator);
    addListing(router, emulator);
    app.use(router);
    app.use(stock);
    return app;
  };

  function apiError(res, code, message, reason) {
    return res.status(code).json({ error: { code, message, errors: [{ message, domain: "global", reason }] } });
  }
  const preconditionFailed = (res) =>
    apiError(res, 412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet");

  /** GCS semantics: a missing object has generation 0 for ifGenerationMatch. `which` is '' or 'Source'. */
  function preconditionsHold(query, md, which = "") {
    const generation = md ? String(md.generation) : "0";
    const match = query[`if${which}GenerationMatch`];
    const notMatch = query[`if${which}GenerationNotMatch`];
    if (match !== undefined && String(match) !== generation) return false;
    if (notMatch !== undefined && String(notMatch) === generation) return false;
    return true;
  }

  function addPreconditions(router, emulator) {
    const meta = (b, o) => emulator.adminStorageLayer.getMetadata(b, o);
    router.post("/upload/storage/v1/b/:bucket/o", (req, res, next) => {
      if (req.query.upload_id || !req.query.name) return next();
      return preconditionsHold(req.query, meta(req.params.bucket, String(req.query.name)))
        ? next()
        : preconditionFailed(res);
    });
    router.post("/b/:bucket/o/:object/:method(rewriteTo|copyTo)/b/:destBucket/o/:destObject", (req, res, next) => {
      const source = meta(req.params.bucket, req.params.object);
      if (source && !preconditionsHold(req.query, source, "Source")) return preconditionFailed(res);
      return preconditionsHold(req.query, meta(req.params.destBucket, req.params.destObject))
        ? next()
        : preconditionFailed(res);
    });
    router.all("/b/:bucket/o/:object", (req, res, next) => {
      const md = meta(req.params.bucket, req.params.object);
      if (!md || !["GET", "PATCH", "DELETE", "PUT"].includes(req.method)) return next();
      if (req.query.generation !== undefined && String(req.query.generation) !== String(md.generation)) {
        return apiError(
          res,
          404,
          `No such object: ${req.params.bucket}/${req.params.object}#${req.query.generation}`,
          "notFound",
        );
      }
      return preconditionsHold(req.query, md) ? next() : preconditionFailed(res);
    });
  }

  function addMediaDownload(router, emulator) {
    router.get(["/b/:bucket/o/:object", "/download/storage/v1/b/:bucket/o/:object"], (req, res, next) => {
      const layer = emulator.adminStorageLayer;
      const md = layer.getMetadata(req.params.bucket, req.params.object);
      if (req.query.alt !== "media" || !md || md.contentEncoding === "gzip") return next();
      const size = Number(md.size);
      let start = 0;
      let end = size - 1;
      const range = /^bytes=(\d*)-(\d*)$/.exec((req.header("range") || "").trim());
      if (range && (range[1] !== "" || range[2] !== "")) {
        if (range[1] === "") start = Math.max(0, size - Number(range[2]));
        else {
          start = Number(range[1]);
          if (range[2] !== "") end = Math.min(end, Number(range[2]));
        }
        if (start >= size && size > 0) {
          res.setHeader("Content-Range", `bytes */${size}`);
          return apiError(res, 416, "The requested range cannot be satisfied.", "requestedRangeNotSatisfiable");
        }
        res.status(206).setHeader("Content-Range", `bytes ${start}-${end}/${size}`);
      }
      res.setHeader("Content-Type", md.contentType || "application/octet-stream");
      res.setHeader("Content-Length", String(Math.max(0, end - start + 1)));
      res.setHeader("x-goog-generation", String(md.generation));
      res.setHeader("x-goog-metageneration", String(md.metageneration));
      res.setHeader("x-goog-stored-content-encoding", "identity");
      res.setHeader("x-goog-hash", `crc32c=${crc32cToString(md.crc32c)},md5=${md.md5Hash}`);
      if (size === 0 || end < start) return res.end();
      const file = layer._persistence.getDiskPath(layer.path(req.params.bucket, req.params.object));
      fs.createReadStream(file, { start, end }).on("error", next).pipe(res);
    });
  }

  function addBuckets(router, emulator) {
    const buckets = emulator._buckets;
    router.post("/b", express.json(), (req, res) => {
      const name = (req.body && req.body.name) || req.query.name;
      if (!name) return apiError(res, 400, "Missing bucket name", "required");
      if (buckets.has(name)) return apiError(res, 409, "You already own this bucket.", "conflict");
      emulator.adminStorageLayer.createBucket(name);
      return res.json(buckets.get(name));
    });
    router.get("/b/:bucket", (req, res) => {
      const bucket = buckets.get(req.params.bucket);
      return bucket ? res.json(bucket) : apiError(res, 404, "The specified bucket does not exist.", "notFound");
    });
    router.delete("/b/:bucket", (req, res) => {
      if (!buckets.has(req.params.bucket))
        return apiError(res, 404, "The specified bucket does not exist.", "notFound");
      const used = [...emulator._files.values()].some((f) => f.metadata.bucket === req.params.bucket);
      if (used) return apiError(res, 409, "The bucket you tried to delete is not empty.", "conflict");
      buckets.delete(req.params.bucket);
      return res.sendStatus(204);
    });
  }

  function addCompose(router, emulator) {
    router.post("/b/:bucket/o/:object/compose", express.json({ limit: "16mb" }), async (req, res, next) => {
      try {
        const layer = emulator.adminStorageLayer;
        const { bucket, object } = req.params;
        const sources = (req.body && req.body.sourceObjects) || [];
        if (sources.length < 1 || sources.length > 32)
          return apiError(res, 400, "sourceObjects must hold 1 to 32 objects", "invalid");
        if (!preconditionsHold(req.query, layer.getMetadata(bucket, object))) return preconditionFailed(res);
        const blobs = [];
        let componentCount = 0;
        for (const source of sources) {
          const md = layer.getMetadata(bucket, source.name);
          if (!md) return apiError(res, 404, `Object ${source.name} not found`, "notFound");
          const wanted = source.objectPreconditions && source.objectPreconditions.ifGenerationMatch;
          if (
            (source.generation && String(source.generation) !== String(md.generation)) ||
            (wanted && String(wanted) !== String(md.generation))
          ) {
            return preconditionFailed(res);
          }
          blobs.push(layer.getBytes(bucket, source.name));
          componentCount += md.componentCount || 1;
        }
        const destination = req.body.destination || {};
        const upload = emulator.uploadService.multipartUpload({
          bucketId: bucket,
          objectId: object,
          dataRaw: Buffer.concat(blobs),
          authorization: "Bearer owner",
          metadata: { contentType: destination.contentType, metadata: destination.metadata },
        });
        const md = await layer.uploadObject(upload);
        md.componentCount = componentCount;
        return res.json({ ...new metadataModule.CloudStorageObjectMetadata(md), componentCount });
      } catch (err) {
        return next(err);
      }
    });
  }

  function addChunkedResumable(router, emulator) {
    const readBody = (req) =>
      new Promise((resolve, reject) => {
        const chunks = [];
        req
          .on("data", (c) => chunks.push(c))
          .on("end", () => resolve(Buffer.concat(chunks)))
          .on("error", reject);
      });
    router.put("/upload/storage/v1/b/:bucket/o", async (req, res, next) => {
      try {
        const contentRange = req.header("content-range");
        const id = req.query.upload_id && String(req.query.upload_id);
        if (!id || !contentRange) return next();
        const uploads = emulator.uploadService;
        let upload;
        try {
          upload = uploads.getResumableUpload(id);
        } catch (err) {
          if (err instanceof NotFoundError) return res.sendStatus(404);
          throw err;
        }
        const body = await readBody(req);
        const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(contentRange.trim());
        if (!m) return apiError(res, 400, `Bad Content-Range: ${contentRange}`, "invalid");
        const total = m[3] === "*" ? undefined : Number(m[3]);
        const finish = async () => {
          if (upload.status !== UploadStatus.FINISHED) {
            uploads.finalizeResumableUpload(id);
            upload.resultMetadata = await emulator.adminStorageLayer.uploadObject(upload);
          }
          return res.status(200).json(new metadataModule.CloudStorageObjectMetadata(upload.resultMetadata));
        };
        const incomplete = () => {
          if (upload.size > 0) res.setHeader("Range", `bytes=0-${upload.size - 1}`);
          return res.status(308).end();
        };
        if (upload.status === UploadStatus.FINISHED) return finish();
        if (upload.status !== UploadStatus.ACTIVE) return res.sendStatus(410);
        if (m[1] !== undefined) {
          const start = Number(m[1]);
          if (start > upload.size) return incomplete();
          const overlap = upload.size - start; // a retried chunk the server already has in part
          if (overlap < body.length) uploads.continueResumableUpload(id, body.subarray(overlap));
          // "bytes A-*/T": a single streaming request carries the rest of the object, so it ends here.
          if (m[2] === "*") return finish();
        }
        return total !== undefined && upload.size >= total ? finish() : incomplete();
      } catch (err) {
        return next(err);
      }
    });
  }

  function addListing(router, emulator) {
    router.get("/b/:bucket/o", (req, res) => {
      if (!emulator._buckets.has(req.params.bucket))
        return apiError(res, 404, "The specified bucket does not exist.", "notFound");
      const q = req.query;
      const prefix = q.prefix ? String(q.prefix) : "";
      const delimiter = q.delimiter ? String(q.delimiter) : "";
      const max = Math.max(1, Math.min(Number(q.maxResults) || 1000, 1000));
      const after = q.pageToken ? Buffer.from(String(q.pageToken), "base64url").toString() : null;
      const entries = new Map(); // name -> metadata, or null for a prefix
      for (const file of emulator._files.values()) {
        const md = file.metadata;
        if (md.bucket !== req.params.bucket || !md.name.startsWith(prefix)) continue;
        const cut = delimiter ? md.name.indexOf(delimiter, prefix.length) : -1;
        if (cut >= 0) entries.set(md.name.slice(0, cut + delimiter.length), null);
        else entries.set(md.name, md);
      }
      // GCS orders names by their UTF-8 bytes; JS string order is UTF-16, which differs above U+FFFF.
      const names = [...entries.keys()]
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        .filter((n) => after === null || Buffer.compare(Buffer.from(n), Buffer.from(after)) > 0);
      const page = names.slice(0, max);
      const out = { kind: "storage#objects" };
      const items = page
        .filter((n) => entries.get(n) !== null)
        .map((n) => new metadataModule.CloudStorageObjectMetadata(entries.get(n)));
      const prefixes = page.filter((n) => entries.get(n) === null);
      if (items.length) out.items = items;
      if (prefixes.length) out.prefixes = prefixes;
      if (names.length > max) out.nextPageToken = Buffer.from(page[page.length - 1]).toString("base64url");
      res.json(out);
    });
  }
};
