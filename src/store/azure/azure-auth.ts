/**
 * Which Azure credentials a mount uses, chosen the way Azure tools choose them:
 * 1. `--anonymous` (or --no-sign-request): none, for public containers;
 * 2. a SAS token: in the source URL (`az://account/container?sv=…&sig=…`), `--sas`, or
 *    AZURE_STORAGE_SAS_TOKEN;
 * 3. AZURE_STORAGE_CONNECTION_STRING;
 * 4. AZURE_STORAGE_KEY (the account key; the account is the one in the source);
 * 5. otherwise Entra ID through DefaultAzureCredential: environment (AZURE_CLIENT_ID …), workload
 *    identity, managed identity, `az login`.
 * Secrets come from the environment or the source, never from the command line unless the user
 * passes --sas; none of them is ever part of a description or message.
 */
import type { AzureAuth } from "./azure-client.js";

export interface AzureAuthOptions {
  anonymous?: boolean;
  /** SAS from the source URL. */
  sourceSas?: string;
  /** SAS from --sas / AZURE_STORAGE_SAS_TOKEN. */
  sas?: string;
}

export function chooseAzureAuth(options: AzureAuthOptions, env: NodeJS.ProcessEnv = process.env): AzureAuth {
  if (options.anonymous) return { kind: "anonymous" };
  const sas = options.sourceSas ?? options.sas;
  if (sas) return { kind: "sas", sas };
  if (env.AZURE_STORAGE_CONNECTION_STRING)
    return { kind: "connectionString", connectionString: env.AZURE_STORAGE_CONNECTION_STRING };
  if (env.AZURE_STORAGE_KEY) return { kind: "sharedKey", accountKey: env.AZURE_STORAGE_KEY };
  return { kind: "token" };
}
