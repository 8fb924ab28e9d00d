/** Service options through the one schema: fstab option strings, environment, defaults. */
import { describe, expect, it } from "vitest";
import { resolveMountOptions } from "../../src/config/load.js";
import { parseMetricsAddress } from "../../src/metrics/server.js";

describe("service mount options", () => {
  it("takes a whole fstab option string as mount(8) passes it", () => {
    const fstab =
      "rw,_netdev,nofail,noauto,user,x-systemd.automount,x-systemd.mount-timeout=30,allow_other,endpoint=http://127.0.0.1:7480,metrics-addr=:9464,pid-file=/run/bucketfs/x.pid,log-level=debug,part-size=16M";
    const { config, fuseOptions } = resolveMountOptions({}, [fstab], {});
    expect(config).toMatchObject({
      allowOther: true,
      endpoint: "http://127.0.0.1:7480",
      metricsAddr: ":9464",
      pidFile: "/run/bucketfs/x.pid",
      logLevel: "debug",
      partSize: 16 * 1024 * 1024,
      readOnly: false,
    });
    expect(fuseOptions).toEqual([]);
  });

  it("reads --metrics-addr from BUCKETFS_METRICS_ADDR, and -o beats the environment", () => {
    expect(resolveMountOptions({}, [], { BUCKETFS_METRICS_ADDR: "9100" }).config.metricsAddr).toBe("9100");
    expect(resolveMountOptions({}, ["metrics-addr=9200"], { BUCKETFS_METRICS_ADDR: "9100" }).config.metricsAddr).toBe(
      "9200",
    );
    expect(resolveMountOptions({ metricsAddr: "9300" }, ["metrics-addr=9200"], {}).config.metricsAddr).toBe("9300");
  });

  it("leaves metrics and the pid file off by default", () => {
    const { config } = resolveMountOptions({}, [], {});
    expect(config.metricsAddr).toBeUndefined();
    expect(config.pidFile).toBeUndefined();
  });

  it("accepts `defaults` as the whole option string (the systemd unit's default)", () => {
    expect(resolveMountOptions({}, ["defaults"], {}).fuseOptions).toEqual([]);
  });
});

describe("metrics address", () => {
  it.each([
    ["9464", { host: "127.0.0.1", port: 9464 }],
    [":9464", { host: "0.0.0.0", port: 9464 }],
    ["10.0.0.5:80", { host: "10.0.0.5", port: 80 }],
    ["[::1]:9464", { host: "::1", port: 9464 }],
    ["localhost:0", { host: "localhost", port: 0 }],
  ])("parses %s", (text, expected) => {
    expect(parseMetricsAddress(text)).toEqual(expected);
  });

  it.each(["", "http://x:1", "host:", "1:2:3", "99999"])("rejects %j", (text) => {
    expect(() => parseMetricsAddress(text)).toThrow(/invalid metrics address/);
  });
});
