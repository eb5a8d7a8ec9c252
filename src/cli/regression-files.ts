/**
 * Where the regression listener's file commands may write (`open-file: NAME`, then lines, then `close-file`;
 * noPoll test_04c). noPoll opened whatever path the peer named, which let any peer append to any file the user can
 * write (`~/.bashrc`, `authorized_keys`). Here a name is one plain file name inside one directory the listener
 * owns: a fresh private temporary directory per run, or one the user gives (`nopoll listen --file-dir DIR`).
 * @packageDocumentation
 */
import { closeSync, constants, mkdtempSync, openSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A name the file commands accept: letters, digits, `.`, `_` and `-`, at most 255 bytes, not starting with `.`
 * (so no `.`, `..` or hidden file) or `-`. No separator of any platform, no NUL: it can only name an entry of the
 * directory itself.
 */
const FILE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

// Append, create, and never follow a symbolic link planted in the directory (O_NOFOLLOW: ELOOP instead).
const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);

/** Why `name` is refused as a file command's target, or null when it is a plain file name. */
export function fileNameProblem(name: string): string | null {
  if (FILE_NAME_RE.test(name)) return null;
  return 'open-file takes a plain file name (letters, digits, ".", "_", "-"; no path)';
}

/**
 * Opens `name` inside `dir` for appending (created with mode 0600 if new). Returns the descriptor, or the reason
 * it was refused (a name that is not a plain file name, a symbolic link, or any failure to open).
 */
export function openInFileDir(dir: string, name: string): number | string {
  const problem = fileNameProblem(name);
  if (problem !== null) return problem;
  try {
    return openSync(join(dir, name), OPEN_FLAGS, 0o600);
  } catch (error) {
    return `open-file failed (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/** Closes a descriptor the file commands opened, ignoring a failure (the connection is going away). */
export function closeFileQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed or the disk went away: nothing left to do for a test listener.
  }
}

/** Makes a fresh directory for the file commands (mode 0700, under the system's temporary directory). */
export function makeFileDir(): string {
  return mkdtempSync(join(tmpdir(), 'nopoll-listen-'));
}

/** Removes a directory made by {@link makeFileDir} if nothing was written into it. */
export function removeFileDirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty (the copies a test wrote are kept for the user) or already gone.
  }
}
