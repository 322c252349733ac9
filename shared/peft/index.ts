export { PeftSlice, isPeftTrainable, PEFT_METHODS, type PeftMethod } from './bitfit.js';
