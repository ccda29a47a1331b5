// callsync console: the one script of our own. It only enhances: the
// settings page's placeholder palette inserts a placeholder where the cursor
// was in the last template field used (without JavaScript the palette is a
// list to copy from). Everything else is htmx or plain forms.
(function () {
  'use strict';
  let last = null;
  document.addEventListener('focusin', function (event) {
    const field = event.target;
    if (field.matches && field.matches('[data-template]')) last = field;
  });
  document.addEventListener('click', function (event) {
    const button = event.target.closest && event.target.closest('[data-placeholder]');
    if (!button || !last) return;
    event.preventDefault();
    const text = '{' + button.getAttribute('data-placeholder') + '}';
    const start = last.selectionStart ?? last.value.length;
    const end = last.selectionEnd ?? start;
    last.value = last.value.slice(0, start) + text + last.value.slice(end);
    last.focus();
    last.setSelectionRange(start + text.length, start + text.length);
    // The live preview listens for input.
    last.dispatchEvent(new Event('input', { bubbles: true }));
  });
})();
