/**
 * Builds the @azure/storage-blob container client for a mount, with the credentials Azure users
 * expect (see azure-auth.ts for how one is chosen), and says how this client can authorise a
 * *source* URL for server-side copies (Put Block From URL reads the source with its own auth).
 *
 * The service URL: `https://ACCOUNT.blob.core.windows.net`, or `--endpoint`. An endpoint whose
 * host starts with `ACCOUNT.` is the account's own (a sovereign cloud, a private endpoint) and is
 * used as is; any other (Azurite, other emulators) is path-style: `ENDPOINT/ACCOUNT`.
 */
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type BlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from "@azure/storage-blob";
import type { TokenCredential } from "@azure/core-auth";
import { StoreError } from "../errors.js";

export type AzureAuth =
  | { kind: "connectionString"; connectionString: string }
  | { kind: "sharedKey"; accountKey: string }
  | { kind: "sas"; sas: string }
  /** Entra ID: DefaultAzureCredential (managed identity, `az login`, environment), or the one given. */
  | { kind: "token"; credential?: TokenCredential }
  | { kind: "anonymous" };

export interface AzureClientConfig {
  account: string;
  container: string;
  endpoint?: string;
  auth: AzureAuth;
  /** Attempts per request (1 = no retries); default 4. */
  maxTries?: number;
  /** Per-attempt timeout. */
  requestTimeoutMs?: number;
}

export interface AzureClient {
  container: ContainerClient;
  /** Service URL without credentials, for descriptions and messages. */
  serviceUrl: string;
  /** How a server-side copy authorises reading `source`: a URL it can read and, for Entra ID, a bearer token. */
  sourceAccess(source: BlobClient): Promise<{ url: string; authorization?: string }>;
  /**
   * A read-only SAS URL for one blob, valid until `expiresOn`: a service SAS signed with the
   * account key, or a user delegation SAS for Entra ID. Absent for SAS and anonymous clients,
   * which hold nothing to sign with (handing out the mount's own SAS would share more than a file).
   */
  signRead?(blob: BlobClient, expiresOn: Date): Promise<string>;
  /** Whether signRead signs locally with the account key (cheap, no request), not through Azure. */
  signsLocally: boolean;
}

const STORAGE_SCOPE = "https://storage.azure.com/.default";
/** Lifetime of the SAS minted for a copy source: long enough for one large Put Block From URL. */
const SOURCE_SAS_MS = 60 * 60 * 1000;

export function serviceUrlFor(account: string, endpoint?: string): string {
  if (!endpoint) return `https://${account}.blob.core.windows.net`;
  const url = new URL(endpoint);
  const base = endpoint.replace(/\/+$/, "");
  return url.hostname.startsWith(`${account}.`) ? base : `${base}/${account}`;
}

export async function createAzureClient(config: AzureClientConfig): Promise<AzureClient> {
  const options: StoragePipelineOptions = {
    retryOptions: { maxTries: config.maxTries ?? 4, tryTimeoutInMs: config.requestTimeoutMs },
  };
  const serviceUrl = serviceUrlFor(config.account, config.endpoint);
  const { auth } = config;
  switch (auth.kind) {
    case "connectionString": {
      const service = fromConnectionString(auth.connectionString, options);
      if (service.accountName !== config.account) {
        throw new StoreError(
          "InvalidCredentials",
          `AZURE_STORAGE_CONNECTION_STRING is for account "${service.accountName}", but the source names account "${config.account}"`,
        );
      }
      const container = service.getContainerClient(config.container);
      const signs = service.credential instanceof StorageSharedKeyCredential;
      return signs
        ? {
            container,
            serviceUrl: withoutQuery(service.url),
            sourceAccess: sasSourceAccess,
            signRead: keySignedUrl,
            signsLocally: true,
          }
        : { container, serviceUrl: withoutQuery(service.url), sourceAccess: plainSourceAccess, signsLocally: false };
    }
    case "sharedKey": {
      const credential = new StorageSharedKeyCredential(config.account, auth.accountKey);
      const container = new BlobServiceClient(serviceUrl, credential, options).getContainerClient(config.container);
      return { container, serviceUrl, sourceAccess: sasSourceAccess, signRead: keySignedUrl, signsLocally: true };
    }
    case "sas": {
      const sas = auth.sas.replace(/^\?/, "");
      const container = new BlobServiceClient(
        `${serviceUrl}?${sas}`,
        new AnonymousCredential(),
        options,
      ).getContainerClient(config.container);
      return { container, serviceUrl, sourceAccess: plainSourceAccess, signsLocally: false };
    }
    case "token": {
      const credential = auth.credential ?? (await defaultCredential());
      const service = new BlobServiceClient(serviceUrl, credential, options);
      const container = service.getContainerClient(config.container);
      return {
        container,
        serviceUrl,
        sourceAccess: bearerSourceAccess(credential),
        signRead: delegationSignedUrl(service, config.account),
        signsLocally: false,
      };
    }
    case "anonymous": {
      const container = new BlobServiceClient(serviceUrl, new AnonymousCredential(), options).getContainerClient(
        config.container,
      );
      return { container, serviceUrl, sourceAccess: plainSourceAccess, signsLocally: false };
    }
  }
}

function fromConnectionString(connectionString: string, options: StoragePipelineOptions): BlobServiceClient {
  try {
    return BlobServiceClient.fromConnectionString(connectionString, options);
  } catch (err) {
    // The SDK's message may quote the string, key included: say what is wrong without it.
    throw new StoreError(
      "InvalidCredentials",
      "AZURE_STORAGE_CONNECTION_STRING is malformed (expected AccountName=…;AccountKey=… or a BlobEndpoint with a SharedAccessSignature)",
      undefined,
      { cause: err },
    );
  }
}

/** @azure/identity is loaded only when Entra ID is used: it is large, and most mounts never need it. */
async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import("@azure/identity");
  return new DefaultAzureCredential();
}

async function sasSourceAccess(source: BlobClient): Promise<{ url: string }> {
  return { url: await keySignedUrl(source, new Date(Date.now() + SOURCE_SAS_MS)) };
}

/** A service SAS, signed locally with the account key (no request is sent). */
function keySignedUrl(blob: BlobClient, expiresOn: Date): Promise<string> {
  return blob.generateSasUrl({ permissions: BlobSASPermissions.parse("r"), expiresOn });
}

/** A user delegation SAS: Azure hands out a key for the token's identity (Get User Delegation Key), valid up to 7 days. */
function delegationSignedUrl(
  service: BlobServiceClient,
  account: string,
): (blob: BlobClient, expiresOn: Date) => Promise<string> {
  return async (blob, expiresOn) => {
    // A start slightly in the past tolerates clock skew between this machine and Azure.
    const startsOn = new Date(Date.now() - 5 * 60 * 1000);
    const key = await service.getUserDelegationKey(startsOn, expiresOn);
    const sas = generateBlobSASQueryParameters(
      {
        containerName: blob.containerName,
        blobName: blob.name,
        permissions: BlobSASPermissions.parse("r"),
        startsOn,
        expiresOn,
      },
      key,
      account,
    );
    return `${blob.url}?${sas.toString()}`;
  };
}

async function plainSourceAccess(source: BlobClient): Promise<{ url: string }> {
  return { url: source.url };
}

function bearerSourceAccess(
  credential: TokenCredential,
): (source: BlobClient) => Promise<{ url: string; authorization?: string }> {
  return async (source) => {
    const token = await credential.getToken(STORAGE_SCOPE);
    if (!token) throw new StoreError("InvalidCredentials", "Entra ID returned no token for Azure Storage");
    return { url: source.url, authorization: `Bearer ${token.token}` };
  };
}

function withoutQuery(url: string): string {
  return url.replace(/\?.*$/, "").replace(/\/+$/, "");
}
