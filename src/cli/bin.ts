/** Entry point of the bundled CLI. */
import { processIo } from './io.js';
import { run } from './main.js';
import { installSignalHandlers } from './signals.js';

const io = processIo();
const running = run(process.argv.slice(2), io);
installSignalHandlers(running, io.stderr);
process.exitCode = await running;
