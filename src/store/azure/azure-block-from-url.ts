/**
 * Put Block From URL with the source pinned to an ETag. The REST call takes
 * `x-ms-source-if-match`, but the public BlockBlobClient.stageBlockFromURL of @azure/storage-blob
 * does not pass source conditions on, and an unpinned copy could splice a newer version of the
 * source into a rewrite. So this calls the client's generated operation (the same one the public
 * method calls) with the condition; the SDK version is pinned exactly in package.json, and
 * test/integ/azure-store.integ.spec.ts checks the header on the wire.
 */
import type { BlockBlobClient } from "@azure/storage-blob";
import type { ByteRange } from "../object-store.js";

interface GeneratedStageBlockFromUrl {
  stageBlockFromURL(
    blockId: string,
    contentLength: number,
    sourceUrl: string,
    options: {
      sourceRange?: string;
      sourceModifiedAccessConditions?: { sourceIfMatch?: string };
      copySourceAuthorization?: string;
      abortSignal?: AbortSignal;
    },
  ): Promise<unknown>;
}

export interface BlockFromUrl {
  blockId: string;
  source: { url: string; authorization?: string };
  range: ByteRange;
  sourceEtag?: string;
  signal?: AbortSignal;
}

export async function stageBlockFromUrl(client: BlockBlobClient, req: BlockFromUrl): Promise<void> {
  const generated = (client as unknown as { blockBlobContext: GeneratedStageBlockFromUrl }).blockBlobContext;
  await generated.stageBlockFromURL(req.blockId, 0, req.source.url, {
    sourceRange: `bytes=${req.range.start}-${req.range.end - 1}`,
    sourceModifiedAccessConditions: req.sourceEtag ? { sourceIfMatch: req.sourceEtag } : undefined,
    copySourceAuthorization: req.source.authorization,
    abortSignal: req.signal,
  });
}
