/*
 * Flagstream's targeting editor for the Django admin (no build step, no dependencies).
 *
 * Every <textarea data-targeting="PART"> holds the JSON the server validates. This script
 * draws an editor for it (rules, defaultRule, prerequisites, variants or constraints), writes
 * the JSON back into the textarea on every change, and keeps the textarea one click away as
 * the "Edit as JSON" view. Server errors arrive in data-errors as {path, message} with the
 * API's field paths (rules.1.distribution.0.weight); the inputs carry the same paths in
 * data-path, so each error is shown where it belongs.
 */
(function () {
  "use strict";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    let value;
    for (const [name, val] of Object.entries(attrs || {})) {
      if (val === undefined || val === null || val === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), val);
      else if (name === "text") node.textContent = val;
      else if (name === "value") value = val;
      else node.setAttribute(name, val === true ? "" : val);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    if (value !== undefined) node.value = value;
    return node;
  }

  function button(label, onclick, attrs) {
    return el("button", {type: "button", class: "targeting-button", onclick, ...attrs}, label);
  }

  function select(choices, value, attrs) {
    const known = choices.some(([v]) => v === value);
    const options = choices.map(([v, label]) => el("option", {value: v}, label));
    if (!known && value !== undefined && value !== null && value !== "") {
      options.unshift(el("option", {value}, `${value} (unknown)`));
    }
    if (!known && (value === undefined || value === null || value === "")) {
      options.unshift(el("option", {value: ""}, "— choose —"));
    }
    return el("select", {...attrs, value: value === undefined || value === null ? "" : value},
              options);
  }

  const EMPTY = {
    rules: () => [],
    defaultRule: (options) => ({variant: (options.variants || [])[0] || ""}),
    prerequisites: () => [],
    variants: () => [],
    constraints: () => [],
  };

  class Editor {
    constructor(textarea) {
      this.textarea = textarea;
      this.part = textarea.dataset.targeting;
      this.options = JSON.parse(textarea.dataset.options || "{}");
      this.errors = JSON.parse(textarea.dataset.errors || "[]");
      this.kindOf = {};
      this.labelOf = {};
      this.menu = [];
      for (const [kind, group, operators] of this.options.operators || []) {
        if (kind === "segment" && this.part === "constraints") continue;  // segments don't nest
        this.menu.push([group, operators]);
        for (const [op, label] of operators) {
          this.kindOf[op] = kind;
          this.labelOf[op] = label;
        }
      }
      this.datalist = `targeting-attributes-${textarea.name}`;
      this.root = el("div", {class: "targeting-editor", "data-part": this.part});
      this.note = el("p", {class: "targeting-json-note", hidden: true});
      this.toggle = button("Edit as JSON", () => this.switchMode(),
                           {class: "targeting-button targeting-toggle"});
      // One box for the editor, its JSON and the toggle: the admin lays out a field's widget
      // beside its label, as one item.
      const box = el("div", {class: "targeting-field"});
      textarea.before(box);
      box.append(this.root, textarea, el("div", {class: "targeting-bar"}, this.toggle, this.note),
                 el("datalist", {id: this.datalist},
                    (this.options.attributes || []).map((name) => el("option", {value: name}))));
      this.jsonMode = !this.load();
      this.showMode();
    }

    load() {
      const text = this.textarea.value.trim();
      try {
        this.value = text ? JSON.parse(text) : EMPTY[this.part](this.options);
      } catch (error) {
        this.note.textContent = `This is not valid JSON (${error.message}); fix it here.`;
        return false;
      }
      const expectList = this.part !== "defaultRule";
      if (Array.isArray(this.value) !== expectList || this.value === null) {
        this.note.textContent = expectList ? "The editor needs a JSON list here."
                                           : "The editor needs a JSON object here.";
        return false;
      }
      this.note.textContent = "";
      this.render();
      return true;
    }

    switchMode() {
      if (!this.jsonMode) {
        this.jsonMode = true;
      } else if (this.load()) {
        this.jsonMode = false;
      }
      this.showMode();
    }

    showMode() {
      this.textarea.hidden = !this.jsonMode;
      this.root.hidden = this.jsonMode;
      this.note.hidden = !this.note.textContent;
      this.toggle.textContent = this.jsonMode ? "Back to the editor" : "Edit as JSON";
    }

    sync() {
      this.textarea.value = JSON.stringify(this.value, null, 2);
    }

    // A structural change (add, remove, move, a new operator): write the JSON and redraw.
    change(mutate) {
      return () => {
        mutate();
        this.errors = [];  // their paths may point elsewhere now
        this.sync();
        this.render();
      };
    }

    render() {
      const draw = {
        rules: () => this.rules(),
        defaultRule: () => this.outcome(this.value, "defaultRule"),
        prerequisites: () => this.prerequisites(),
        variants: () => this.variants(),
        constraints: () => this.conditions(this.value, "constraints"),
      }[this.part];
      this.root.replaceChildren(draw());
      this.showErrors();
    }

    showErrors() {
      for (const {path, message} of this.errors) {
        let parts = path.split(".");
        let target = null;
        while (parts.length && !target) {
          target = this.root.querySelector(`[data-path="${parts.join(".")}"]`);
          parts = parts.slice(0, -1);
        }
        target = target || this.root;
        target.classList.add("targeting-invalid");
        const text = el("div", {class: "targeting-error-text", role: "alert"}, message);
        if (target.matches("input, select")) target.after(text);
        else target.prepend(text);
      }
    }

    // --- one input, one field -------------------------------------------------------------

    text(holder, key, attrs) {
      const {optional, ...rest} = attrs || {};
      return el("input", {type: "text", value: holder[key] ?? "", ...rest, oninput: (event) => {
        const value = event.target.value;
        if (value === "" && optional) delete holder[key];
        else holder[key] = value;
        this.sync();
      }});
    }

    choice(holder, key, choices, attrs) {
      return select(choices, holder[key], {...attrs, onchange: (event) => {
        holder[key] = event.target.value;
        this.sync();
      }});
    }

    variantChoices() {
      return (this.options.variants || []).map((key) => [key, key]);
    }

    // --- rules -----------------------------------------------------------------------------

    rules() {
      const rules = this.value;
      const list = el("ol", {class: "targeting-rules"});
      rules.forEach((rule, index) => {
        const path = `rules.${index}`;
        if (!Array.isArray(rule.constraints)) rule.constraints = [];
        list.append(el("li", {class: "targeting-rule", "data-path": path},
          el("div", {class: "targeting-rule-head"},
            el("strong", {}, `Rule ${index + 1}`),
            this.text(rule, "description", {placeholder: "what this rule is for (optional)",
                                            optional: true, class: "targeting-description",
                                            "data-path": `${path}.description`}),
            button("↑", this.change(() => rules.splice(index - 1, 0, ...rules.splice(index, 1))),
                   {title: "Move up", disabled: index === 0}),
            button("↓", this.change(() => rules.splice(index + 1, 0, ...rules.splice(index, 1))),
                   {title: "Move down", disabled: index === rules.length - 1}),
            button("Remove rule", this.change(() => rules.splice(index, 1)),
                   {class: "targeting-button targeting-remove"})),
          el("div", {class: "targeting-row"}, el("span", {class: "targeting-label"}, "If"),
             this.conditions(rule.constraints, `${path}.constraints`)),
          el("div", {class: "targeting-row"}, el("span", {class: "targeting-label"}, "Serve"),
             this.outcome(rule, path))));
      });
      return el("div", {},
        rules.length ? list
                     : el("p", {class: "targeting-empty"}, "No rules: everyone gets the default rule."),
        button("+ Add rule", this.change(() => rules.push({
          constraints: [this.newCondition()],
          variant: (this.options.variants || [])[0] || ""})), {class: "targeting-button targeting-add"}));
    }

    newCondition() {
      const attributes = this.options.attributes || [];
      return {attribute: attributes.find((a) => a !== "targetingKey") || "", operator: "in",
              values: [""]};
    }

    conditions(constraints, path) {
      const box = el("div", {class: "targeting-conditions", "data-path": path});
      constraints.forEach((condition, index) => {
        const at = `${path}.${index}`;
        const kind = this.kindOf[condition.operator] || "list";
        box.append(el("div", {class: "targeting-condition", "data-path": at},
          index ? el("span", {class: "targeting-and"}, "and") : null,
          kind === "segment" ? el("span", {class: "targeting-word"}, "context")
            : this.text(condition, "attribute", {placeholder: "attribute", list: this.datalist,
                                                 class: "targeting-attribute",
                                                 "data-path": `${at}.attribute`}),
          this.operatorMenu(condition, at),
          this.values(condition, at, kind),
          button("×", this.change(() => constraints.splice(index, 1)),
                 {title: "Remove condition", class: "targeting-button targeting-remove"})));
      });
      if (!constraints.length) box.append(el("span", {class: "targeting-empty"}, "everyone"));
      box.append(button("+ condition", this.change(() => constraints.push(this.newCondition())),
                        {class: "targeting-button targeting-add"}));
      return box;
    }

    operatorMenu(condition, at) {
      const groups = this.menu.map(([group, operators]) => el("optgroup", {label: group},
        operators.map(([op, label]) => el("option", {value: op}, label))));
      return el("select", {class: "targeting-operator", "data-path": `${at}.operator`,
                           value: condition.operator,
                           onchange: (event) => this.change(() => this.setOperator(
                             condition, event.target.value))()}, groups);
    }

    setOperator(condition, operator) {
      const before = this.kindOf[condition.operator];
      const after = this.kindOf[operator];
      condition.operator = operator;
      if (after === "segment") {
        delete condition.attribute;
        condition.values = [(this.options.segments || [])[0] || ""];
      } else {
        if (before === "segment") condition.attribute = this.newCondition().attribute;
        if (after === "none") delete condition.values;
        else if (before !== after || !Array.isArray(condition.values)) condition.values = [""];
      }
    }

    values(condition, at, kind) {
      if (kind === "none") return null;
      if (!Array.isArray(condition.values)) condition.values = [""];
      const values = condition.values;
      const box = el("span", {class: "targeting-values", "data-path": `${at}.values`});
      values.forEach((value, index) => {
        const path = `${at}.values.${index}`;
        if (index) box.append(el("span", {class: "targeting-or"}, "or"));
        box.append(this.valueInput(values, index, kind, path));
        if (values.length > 1) {
          box.append(button("×", this.change(() => values.splice(index, 1)),
                            {title: "Remove value", class: "targeting-button targeting-remove"}));
        }
      });
      const more = kind === "segment" ? "+ segment" : "+ value";
      box.append(button(more, this.change(() => values.push(
        kind === "segment" ? (this.options.segments || [])[0] || "" : "")),
        {class: "targeting-button targeting-add"}));
      return box;
    }

    valueInput(values, index, kind, path) {
      const value = values[index];
      const store = (converted) => { values[index] = converted; this.sync(); };
      if (kind === "segment") {
        return select((this.options.segments || []).map((key) => [key, key]), value, {
          "data-path": path, class: "targeting-segment",
          onchange: (event) => store(event.target.value)});
      }
      if (kind === "number") {
        return el("input", {type: "number", step: "any", value: value ?? "", "data-path": path,
                            class: "targeting-value", oninput: (event) => {
                              const raw = event.target.value;
                              store(raw === "" ? "" : Number(raw));
                            }});
      }
      if (kind === "date") {
        return el("span", {class: "targeting-date"},
          el("input", {type: "datetime-local", step: "1", value: toLocalInput(value),
                       "data-path": path, class: "targeting-value",
                       oninput: (event) => store(fromLocalInput(event.target.value))}),
          el("span", {class: "targeting-unit"}, "UTC"));
      }
      const placeholder = {semver: "1.4.0", regex: "^pattern$"}[kind] || "value";
      const attrs = kind === "semver" ? {pattern: "v?\\d+(\\.\\d+){0,2}([-+][0-9A-Za-z.-]+)*"} : {};
      return el("input", {type: "text", value: value ?? "", placeholder, "data-path": path,
                          class: "targeting-value", ...attrs,
                          oninput: (event) => store(event.target.value)});
    }

    // --- what a rule serves ----------------------------------------------------------------

    outcome(holder, path) {
      const split = Array.isArray(holder.distribution);
      const name = `serve-${this.textarea.name}-${path}`;
      const box = el("div", {class: "targeting-outcome", "data-path": path},
        el("label", {}, el("input", {type: "radio", name, checked: !split,
                                      onchange: this.change(() => this.serveOne(holder))}),
           " one variant"),
        el("label", {}, el("input", {type: "radio", name, checked: split,
                                      onchange: this.change(() => this.serveSplit(holder))}),
           " a percentage split"));
      if (!split) {
        box.append(this.choice(holder, "variant", this.variantChoices(),
                               {"data-path": `${path}.variant`, class: "targeting-variant"}));
        return box;
      }
      const parts = holder.distribution;
      const total = el("span", {class: "targeting-total", "aria-live": "polite"});
      const showTotal = () => {
        const sum = Math.round(parts.reduce((acc, p) => acc + (Number(p.weight) || 0), 0) * 1000)
                    / 1000;
        total.textContent = sum === 100 ? "Total 100% ✓" : `Total ${sum}% — must be 100%`;
        total.classList.toggle("targeting-total-bad", sum !== 100);
      };
      const table = el("div", {class: "targeting-split", "data-path": `${path}.distribution`});
      parts.forEach((part, index) => {
        const at = `${path}.distribution.${index}`;
        table.append(el("div", {class: "targeting-split-part", "data-path": at},
          this.choice(part, "variant", this.variantChoices(), {"data-path": `${at}.variant`,
                                                                class: "targeting-variant"}),
          el("input", {type: "number", min: "0", max: "100", step: "any", value: part.weight ?? "",
                       class: "targeting-weight", "data-path": `${at}.weight`,
                       oninput: (event) => {
                         const raw = event.target.value;
                         part.weight = raw === "" ? "" : Number(raw);
                         showTotal();
                         this.sync();
                       }}),
          el("span", {class: "targeting-unit"}, "%"),
          parts.length > 1 ? button("×", this.change(() => parts.splice(index, 1)),
                                    {title: "Remove", class: "targeting-button targeting-remove"})
                           : null));
      });
      table.append(el("div", {class: "targeting-split-foot"},
        button("+ variant", this.change(() => parts.push({variant: this.unusedVariant(parts),
                                                          weight: 0})),
               {class: "targeting-button targeting-add"}),
        total));
      showTotal();
      box.append(table);
      return box;
    }

    unusedVariant(parts) {
      const used = new Set(parts.map((p) => p.variant));
      const variants = this.options.variants || [];
      return variants.find((v) => !used.has(v)) || variants[0] || "";
    }

    serveOne(holder) {
      holder.variant = (holder.distribution || [])[0]?.variant
                       || (this.options.variants || [])[0] || "";
      delete holder.distribution;
    }

    serveSplit(holder) {
      const first = holder.variant || (this.options.variants || [])[0] || "";
      const parts = [{variant: first, weight: 50}];
      parts.push({variant: this.unusedVariant(parts), weight: 50});
      holder.distribution = parts;
      delete holder.variant;
    }

    // --- prerequisites ---------------------------------------------------------------------

    prerequisites() {
      const list = this.value;
      const flags = this.options.flags || {};
      const box = el("div", {class: "targeting-prerequisites"});
      list.forEach((prerequisite, index) => {
        const at = `prerequisites.${index}`;
        const variants = (flags[prerequisite.flag] || []).map((key) => [key, key]);
        box.append(el("div", {class: "targeting-condition", "data-path": at},
          el("span", {class: "targeting-word"}, "flag"),
          select(Object.keys(flags).map((key) => [key, key]), prerequisite.flag, {
            "data-path": `${at}.flag`, class: "targeting-flag",
            onchange: (event) => this.change(() => {
              prerequisite.flag = event.target.value;
              prerequisite.variant = (flags[prerequisite.flag] || [])[0] || "";
            })()}),
          el("span", {class: "targeting-word"}, "serves"),
          this.choice(prerequisite, "variant", variants, {"data-path": `${at}.variant`}),
          button("×", this.change(() => list.splice(index, 1)),
                 {title: "Remove prerequisite", class: "targeting-button targeting-remove"})));
      });
      if (!list.length) {
        box.append(el("p", {class: "targeting-empty"}, "None: this flag does not depend on another."));
      }
      const first = Object.keys(flags)[0];
      box.append(button("+ prerequisite", this.change(() => list.push(
        {flag: first || "", variant: (flags[first] || [])[0] || ""})),
        {class: "targeting-button targeting-add", disabled: !first}));
      return box;
    }

    // --- a flag's variants -----------------------------------------------------------------

    flagKind() {
      const kindSelect = document.getElementById("id_kind");
      return (kindSelect && kindSelect.value) || this.options.kind || "boolean";
    }

    variants() {
      const list = this.value;
      const kind = this.flagKind();
      const box = el("div", {class: "targeting-variants"},
        el("div", {class: "targeting-variants-head"},
           el("span", {}, "key"), el("span", {}, `value (${kind})`), el("span", {}, "name")));
      list.forEach((variant, index) => {
        const at = `variants.${index}`;
        box.append(el("div", {class: "targeting-variant-row", "data-path": at},
          this.text(variant, "key", {placeholder: "key", "data-path": `${at}.key`}),
          this.variantValue(variant, kind, `${at}.value`),
          this.text(variant, "name", {placeholder: "name (optional)", optional: true,
                                      "data-path": `${at}.name`}),
          button("×", this.change(() => list.splice(index, 1)),
                 {title: "Remove variant", class: "targeting-button targeting-remove"})));
      });
      if (!list.length) {
        box.append(el("p", {class: "targeting-empty"}, kind === "boolean"
          ? "None given: the flag serves true and false." : "Add the values this flag serves."));
      }
      box.append(button("+ variant", this.change(() => list.push(
        {key: "", value: {boolean: true, number: 0, json: {}}[kind] ?? ""})),
        {class: "targeting-button targeting-add"}));
      return box;
    }

    variantValue(variant, kind, path) {
      const store = (value) => { variant.value = value; this.sync(); };
      if (kind === "boolean") {
        return select([["true", "true"], ["false", "false"]], String(variant.value), {
          "data-path": path, onchange: (event) => store(event.target.value === "true")});
      }
      if (kind === "number") {
        return el("input", {type: "number", step: "any", value: variant.value ?? "",
                            "data-path": path, oninput: (event) => store(
                              event.target.value === "" ? "" : Number(event.target.value))});
      }
      if (kind === "json") {
        return el("input", {type: "text", value: JSON.stringify(variant.value ?? null),
                            "data-path": path, class: "targeting-json-value",
                            oninput: (event) => {
                              try {
                                store(JSON.parse(event.target.value));
                                event.target.setCustomValidity("");
                              } catch (error) {
                                event.target.setCustomValidity("not valid JSON");
                              }
                            }});
      }
      return el("input", {type: "text", value: variant.value ?? "", "data-path": path,
                          oninput: (event) => store(event.target.value)});
    }
  }

  // datetime-local has no zone: the editor shows and stores UTC.
  function toLocalInput(value) {
    if (typeof value !== "string" || !value) return "";
    const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
    return Number.isNaN(date.getTime()) ? "" : date.toISOString().slice(0, 19);
  }

  function fromLocalInput(value) {
    if (!value) return "";
    return `${value.length === 16 ? `${value}:00` : value}Z`;
  }

  function start() {
    const editors = [...document.querySelectorAll("textarea[data-targeting]")]
      .map((textarea) => new Editor(textarea));
    const kindSelect = document.getElementById("id_kind");
    if (kindSelect) {
      kindSelect.addEventListener("change", () => editors
        .filter((editor) => editor.part === "variants" && !editor.jsonMode)
        .forEach((editor) => editor.render()));
    }
    window.flagstreamTargeting = editors;  // for the browser tests and the curious
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
