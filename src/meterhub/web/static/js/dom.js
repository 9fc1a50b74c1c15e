// Tiny DOM helpers: build elements without innerHTML (no injection), animate changes.

/** document.querySelector shorthand. */
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/**
 * el("a", {href: "/x", class: "btn", dataset: {id: 1}, onclick: fn}, "text", child)
 * Attributes named on* become listeners; `class`, `dataset` and `text` are special.
 */
export function el(tag, attrs = {}, ...children) {
  const svg = ["svg", "path", "rect", "g", "text", "title", "line", "polyline"].includes(tag);
  const node = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function")
      node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Set text; when it changed, replay a short highlight so the eye catches the update. */
export function setLive(node, text) {
  if (!node || node.textContent === text) return;
  node.textContent = text;
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("flash");
}

/** Like setLive, for "value unit" text: the unit is drawn smaller. */
export function setValue(node, text) {
  if (!node || node.dataset.text === text) return;
  node.dataset.text = text;
  const i = text.lastIndexOf(" ");
  if (i < 0) node.replaceChildren(text);
  else {
    const unit = document.createElement("span");
    unit.className = "unit";
    unit.textContent = text.slice(i + 1);
    node.replaceChildren(text.slice(0, i), unit);
  }
  node.classList.remove("flash");
  void node.offsetWidth;
  node.classList.add("flash");
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

/** Debounce a function (search boxes, resize). */
export function debounce(fn, ms = 200) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Wire a group of aria-pressed buttons; calls onChange(value) with data-value. */
export function segmented(root, onChange) {
  const buttons = $$("button[data-value]", root);
  const select = (value, fire = true) => {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.value === value));
    if (fire) onChange(value);
  };
  for (const b of buttons) b.addEventListener("click", () => select(b.dataset.value));
  return select;
}
