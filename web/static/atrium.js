// A form kept out of htmx (hx-boost="false", so that a refusal's 4xx page is shown) still
// asks its hx-confirm question: htmx asks only before the requests it sends itself.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.getAttribute("hx-boost") !== "false" || form.hasAttribute("hx-post")) return;
  const question = form.getAttribute("hx-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// A board (a kanban): drag a card ([data-card]) onto a column ([data-stage]) to put that
// column's stage in the card's "Move to" form (form.move-form, input stage_id) and send
// it; the form alone does the same without JavaScript or from the keyboard.
const columnOf = (event) => event.target.closest && event.target.closest("[data-stage]");
document.addEventListener("dragstart", (event) => {
  const card = event.target.closest && event.target.closest("[data-card]");
  if (card) event.dataTransfer.setData("text/plain", card.id);
});
document.addEventListener("dragover", (event) => {
  const column = columnOf(event);
  if (column) { event.preventDefault(); column.classList.add("drop-here"); }
});
document.addEventListener("dragleave", (event) => {
  const column = columnOf(event);
  if (column) column.classList.remove("drop-here");
});
document.addEventListener("drop", (event) => {
  const column = columnOf(event);
  if (!column) return;
  event.preventDefault();
  column.classList.remove("drop-here");
  const card = document.getElementById(event.dataTransfer.getData("text/plain"));
  const form = card && card.querySelector("form.move-form");
  if (!form || card.closest("[data-stage]") === column) return;
  form.elements.stage_id.value = column.dataset.stage;
  form.requestSubmit();
});
