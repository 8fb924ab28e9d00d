/** az:// sources and the choice of Azure credentials: pure parsing, no server. */
import { describe, expect, it } from "vitest";
import { parseSource } from "../../src/config/source.js";
import { scrubSecrets } from "../../src/log/logger.js";
import { chooseAzureAuth } from "../../src/store/azure/azure-auth.js";
import { serviceUrlFor } from "../../src/store/azure/azure-client.js";

describe("az:// sources", () => {
  it("parses account, container and prefix", () => {
    expect(parseSource("az://myaccount/images")).toEqual({
      scheme: "az",
      account: "myaccount",
      bucket: "images",
      prefix: "",
      url: "az://myaccount/images",
    });
    expect(parseSource("az://myaccount/images/ct/2024/")).toEqual({
      scheme: "az",
      account: "myaccount",
      bucket: "images",
      prefix: "ct/2024/",
      url: "az://myaccount/images/ct/2024",
    });
  });

  it("keeps a SAS in the query apart from the URL that is shown and logged", () => {
    const source = parseSource("az://myaccount/images/ct?sv=2025-01-05&sp=rl&sig=abc%2Fdef");
    expect(source.sas).toBe("sv=2025-01-05&sp=rl&sig=abc%2Fdef");
    expect(source.url).toBe("az://myaccount/images/ct");
    expect(source.prefix).toBe("ct/");
  });

  it.each([
    ["az://myaccount", "expected az://account/container"],
    ["az://My_Account/images", 'invalid storage account name "My_Account"'],
    ["az://ab/images", 'invalid storage account name "ab"'],
    ["az://myaccount/Images", 'invalid container name "Images"'],
    ["az://myaccount/a--b", 'invalid container name "a--b"'],
    ["az://myaccount/images/../x", 'invalid prefix "../x"'],
    ["az://myaccount/images?sv=1&sp=r", "is not a SAS token"],
  ])("refuses %s", (text, message) => {
    expect(() => parseSource(text)).toThrow(message);
  });

  it("never puts a SAS into an error message", () => {
    expect(() => parseSource("az://Bad/images?sv=1&sig=topsecret")).toThrow(/^(?!.*topsecret)/s);
  });
});

describe("choosing Azure credentials", () => {
  const env = { AZURE_STORAGE_CONNECTION_STRING: "AccountName=a;AccountKey=k", AZURE_STORAGE_KEY: "key" };

  it("takes --anonymous first, then a SAS (URL before --sas), the connection string, the account key, and else Entra ID", () => {
    expect(chooseAzureAuth({ anonymous: true, sas: "sig=1" }, env)).toEqual({ kind: "anonymous" });
    expect(chooseAzureAuth({ sourceSas: "sig=url", sas: "sig=flag" }, env)).toEqual({ kind: "sas", sas: "sig=url" });
    expect(chooseAzureAuth({ sas: "sig=flag" }, env)).toEqual({ kind: "sas", sas: "sig=flag" });
    expect(chooseAzureAuth({}, env)).toEqual({
      kind: "connectionString",
      connectionString: env.AZURE_STORAGE_CONNECTION_STRING,
    });
    expect(chooseAzureAuth({}, { AZURE_STORAGE_KEY: "key" })).toEqual({ kind: "sharedKey", accountKey: "key" });
    expect(chooseAzureAuth({}, {})).toEqual({ kind: "token" });
  });

  it("addresses the account's own host, an account-named endpoint as is, and any other endpoint path-style", () => {
    expect(serviceUrlFor("acct")).toBe("https://acct.blob.core.windows.net");
    expect(serviceUrlFor("acct", "https://acct.blob.core.chinacloudapi.cn/")).toBe(
      "https://acct.blob.core.chinacloudapi.cn",
    );
    expect(serviceUrlFor("devstoreaccount1", "http://127.0.0.1:10000")).toBe("http://127.0.0.1:10000/devstoreaccount1");
  });

  it("scrubs SAS signatures and connection-string keys from log lines", () => {
    const line =
      '{"msg":"GET https://a.blob.core.windows.net/c/k?sv=1&sig=SECRETSIG&sp=r","cs":"AccountName=a;AccountKey=SECRETKEY;EndpointSuffix=x"}';
    const out = scrubSecrets(line, []);
    expect(out).not.toMatch(/SECRETSIG|SECRETKEY/);
    expect(out).toContain("sig=[redacted]&sp=r");
    expect(out).toContain("AccountKey=[redacted];EndpointSuffix=x");
  });
});
