export { encodeTopK, decodeTopK, topKIndices } from './topk.js';
export { UpdateCompressor, decodeUpload, type UploadCodec, type CompressorOptions, type Compressed } from './error-feedback.js';
export { UploadCompressionSchema, takeUploadCompression, compressorFor, compressingSession, DecodingServerSession, type UploadCompression } from './upload.js';
