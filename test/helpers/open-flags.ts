/**
 * open(2) flags for driving a Filesystem directly in unit tests, as the kernel passes them through
 * FUSE (Linux values; Node's fs.constants are the host's, and bucketfs runs on Linux only).
 */
import { constants } from "node:fs";

export const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND } = constants;
