import { simulateCommand } from './cli.js';
await simulateCommand().parseAsync(process.argv);
