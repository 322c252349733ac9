export { PeftSlice, isPeftFederated, isPeftTrainable, PEFT_METHODS, type PeftMethod, type PeftSliceOptions } from './bitfit.js';
