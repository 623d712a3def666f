import type { ParseError } from './types';

/**
 * Every way a request can fail to parse, as values: the status the connection answers, a stable
 * code for tests and logs, and a message for people. The parser reports these shared objects.
 */
export const PARSE_ERROR = {
  // Request line (RFC 9112 section 3).
  requestLineInvalid: err(400, 'request-line-invalid', 'Request line is not a method, target and version separated by single spaces'),
  methodInvalid: err(400, 'method-invalid', 'Method is not a token'),
  targetInvalid: err(400, 'target-invalid', 'Request target is not origin-form, absolute-form or an asterisk for OPTIONS'),
  connectUnsupported: err(501, 'connect-unsupported', 'CONNECT is not supported: this server opens no tunnels'),
  targetCharacterInvalid: err(400, 'target-character-invalid', 'Request target contains a control character'),
  targetTooLong: err(414, 'target-too-long', 'Request target is longer than the limit'),
  versionInvalid: err(400, 'version-invalid', 'HTTP version is malformed'),
  versionUnsupported: err(505, 'version-unsupported', 'HTTP version is not supported'),
  // Line endings (RFC 9112 section 2.2).
  bareCr: err(400, 'bare-cr', 'Carriage return is not followed by a line feed'),
  // Field lines (RFC 9112 section 5, RFC 9110 section 5).
  headerSectionTooLarge: err(431, 'header-section-too-large', 'Header section is larger than the limit'),
  trailerSectionTooLarge: err(431, 'trailer-section-too-large', 'Header and trailer sections are larger than the limit'),
  obsoleteLineFolding: err(400, 'obsolete-line-folding', 'Field line starts with whitespace (obsolete line folding)'),
  headerNameEmpty: err(400, 'header-name-empty', 'Field name is empty'),
  headerNameInvalid: err(400, 'header-name-invalid', 'Field name is not a token'),
  headerNameWhitespace: err(400, 'header-name-whitespace', 'Whitespace between field name and colon'),
  headerColonMissing: err(400, 'header-colon-missing', 'Field line has no colon'),
  headerValueInvalid: err(400, 'header-value-invalid', 'Field value contains a control character'),
  hostMissing: err(400, 'host-missing', 'HTTP/1.1 request has no Host field'),
  hostDuplicate: err(400, 'host-duplicate', 'Request has more than one Host field'),
  hostInvalid: err(400, 'host-invalid', 'Host field is not a host name or address with an optional port'),
  // Message body length (RFC 9112 section 6).
  contentLengthInvalid: err(400, 'content-length-invalid', 'Content-Length is not a decimal number'),
  contentLengthMismatch: err(400, 'content-length-mismatch', 'Content-Length values differ'),
  contentLengthTooLarge: err(413, 'content-length-too-large', 'Content-Length is larger than the body limit'),
  bodyTooLarge: err(413, 'body-too-large', 'Chunked body is larger than the body limit'),
  transferEncodingWithContentLength: err(400, 'transfer-encoding-with-content-length', 'Transfer-Encoding and Content-Length are both present'),
  transferEncodingInHttp10: err(400, 'transfer-encoding-in-http10', 'Transfer-Encoding is not allowed in an HTTP/1.0 request'),
  transferEncodingUnsupported: err(501, 'transfer-encoding-unsupported', 'Transfer-Encoding other than chunked is not implemented'),
  transferEncodingNotChunked: err(400, 'transfer-encoding-not-chunked', 'Transfer-Encoding of a request does not end with chunked'),
  // Chunked transfer coding (RFC 9112 section 7.1).
  chunkSizeInvalid: err(400, 'chunk-size-invalid', 'Chunk size is not a hexadecimal number'),
  chunkSizeTooLong: err(400, 'chunk-size-too-long', 'Chunk size has too many digits'),
  chunkLineEnding: err(400, 'chunk-line-ending', 'Chunk size line does not end with CRLF'),
  chunkExtensionInvalid: err(400, 'chunk-extension-invalid', 'Chunk extension contains a control character'),
  chunkExtensionsTooLarge: err(413, 'chunk-extensions-too-large', 'Chunk extensions are larger than the limit'),
  chunkDataCrlfMissing: err(400, 'chunk-data-crlf-missing', 'Chunk data is not followed by CRLF'),
  // Responses read by the reverse proxy (RFC 9112 section 4); a proxy answers any of these with 502.
  statusLineInvalid: err(502, 'status-line-invalid', 'Status line is not a version, a three-digit status and a reason'),
  responseVersionInvalid: err(502, 'response-version-invalid', 'Response HTTP version is not 1.0 or 1.1'),
  responseIncomplete: err(502, 'response-incomplete', 'Connection closed before the response was complete'),
  responseUnexpected: err(502, 'response-unexpected', 'Bytes arrived when no response was expected'),
} as const satisfies Record<string, ParseError>;

function err(status: ParseError['status'], code: string, message: string): ParseError {
  return Object.freeze({ status, code, message });
}
