/** The version `bucketfs --version` prints: a constant, so printing it reads no file. */
export const VERSION = "0.1.0";
