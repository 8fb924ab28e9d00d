/**
 * Setup file of every spec: removes the directories test/helpers/temp-dirs.ts made, after each
 * test and after each file, pass or fail. Registered before the spec's own hooks, so its
 * afterEach runs after theirs (vitest runs after-hooks in reverse): a spec closes what it opened
 * in its directories first.
 */
import { afterAll, afterEach, beforeEach } from "vitest";
import { fileFinished, testFinished, testStarted } from "./temp-dirs.js";

beforeEach(() => testStarted());
afterEach(() => testFinished());
afterAll(() => fileFinished());
