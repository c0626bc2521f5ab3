// The API client: JSON envelope calls, uploads with progress, and a fetch-based SSE reader that sends
// the Authorization header (EventSource cannot) and resumes with Last-Event-ID.

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

export class Api {
  constructor(base, token, onUnauthorized) {
    this.base = base.replace(/\/$/, "");
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  headers(extra = {}) {
    return this.token ? { Authorization: `Bearer ${this.token}`, ...extra } : { ...extra };
  }

  async call(method, path, body, extraHeaders = {}) {
    const init = { method, headers: this.headers(extraHeaders) };
    if (method === "POST" || method === "PUT") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body ?? {});
    }
    let response;
    try {
      response = await fetch(this.base + path, init);
    } catch (err) {
      throw new ApiError(0, "The server cannot be reached. Is it running?", null);
    }
    return this.unwrap(response);
  }

  async unwrap(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.ok && body && body.code === 0) return body.data;
    if (response.status === 401 && this.onUnauthorized) this.onUnauthorized();
    const msg = (body && body.msg) || response.statusText || "Request failed";
    throw new ApiError(response.status, msg, body ? body.data : null);
  }

  async blob(path) {
    const response = await fetch(this.base + path, { headers: this.headers() });
    if (!response.ok) return this.unwrap(response);
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
    return { blob: await response.blob(), name: match ? decodeURIComponent(match[1]) : null };
  }

  upload(path, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.base + path);
      if (this.token) xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(Math.round((100 * e.loaded) / e.total));
      };
      xhr.onerror = () => reject(new ApiError(0, "The upload failed: the server cannot be reached", null));
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300 && body && body.code === 0) resolve(body.data);
        else reject(new ApiError(xhr.status, (body && body.msg) || `Upload failed (${xhr.status})`, body && body.data));
      };
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }

  // One SSE connection: calls onMessage({event, id, data}) per message until the server closes it.
  async stream(path, after, signal, onOpen, onMessage) {
    const headers = this.headers({ Accept: "text/event-stream" });
    if (after > 0) headers["Last-Event-ID"] = String(after);
    const response = await fetch(this.base + path, { headers, signal, cache: "no-store" });
    if (!response.ok) return this.unwrap(response);
    onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let message = { event: "message", id: null, data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (message.data.length || message.event !== "message") {
            const stop = onMessage({ event: message.event, id: message.id, data: message.data.join("\n") });
            if (stop) {
              reader.cancel().catch(() => {});
              return null;
            }
          }
          message = { event: "message", id: null, data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // a ping comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") message.event = text;
        else if (field === "data") message.data.push(text);
        else if (field === "id") message.id = text;
      }
    }
  }
}

// Cognito's USER_PASSWORD_AUTH flow (the app client allows it): returns the ID token.
export async function cognitoSignIn(cognito, username, password) {
  const response = await fetch(`https://cognito-idp.${cognito.region}.amazonaws.com/`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: cognito.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.message || "Sign-in failed", null);
  if (!body.AuthenticationResult) {
    throw new ApiError(400, `Sign-in needs a further step (${body.ChallengeName}); use the hosted UI`, null);
  }
  return body.AuthenticationResult.IdToken;
}
