// Renders the OpenAPI document as a list of operations grouped by tag (no third-party code).
(async function () {
  const root = document.getElementById("ops");
  const spec = await (await fetch("/v1/openapi.json")).json();
  const byTag = {};
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags || ["other"])[0];
      (byTag[tag] = byTag[tag] || []).push({ path, method, op });
    }
  }
  root.textContent = "";
  for (const tag of Object.keys(byTag).sort()) {
    const h = document.createElement("h2");
    h.textContent = tag;
    root.appendChild(h);
    for (const { path, method, op } of byTag[tag]) {
      const div = document.createElement("div");
      div.className = "op";
      const who = op.security && op.security.length === 0 ? "public"
        : (op["x-roles"] ? op["x-roles"].join(", ") : "any signed-in role");
      div.innerHTML = `<span class="m"></span><span class="p"></span> — <span class="s"></span>
        <div class="who"></div>`;
      div.querySelector(".m").textContent = method.toUpperCase();
      div.querySelector(".p").textContent = path;
      div.querySelector(".s").textContent = op.summary || "";
      div.querySelector(".who").textContent = "who: " + who + " · responses: " +
        Object.keys(op.responses).join(", ");
      if (op.requestBody) {
        const d = document.createElement("details");
        d.innerHTML = "<summary>request body</summary><pre></pre>";
        d.querySelector("pre").textContent =
          JSON.stringify(op.requestBody.content["application/json"].schema, null, 2);
        div.appendChild(d);
      }
      root.appendChild(div);
    }
  }
})();
