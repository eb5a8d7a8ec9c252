/**
 * Loaded into every test process (`scripts/test.mjs` passes `--import`): once a file's tests are done, the process
 * must end by itself. If sockets, servers, timers or child processes still keep it alive 3 s later, it names them
 * and exits with a failure, so a test that fails before its cleanup (or a test that leaks) ends its file quickly
 * instead of holding the whole run until a timeout. Cleanup belongs in `t.after`.
 */
import { after } from 'node:test';

after(() => {
  const timer = setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap');
    console.error(`exit-guard: this file's tests are done but the process is still kept alive by: ${open.join(', ')}`);
    process.exit(process.exitCode || 1);
  }, 3000);
  timer.unref();
});
