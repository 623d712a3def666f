// Shows that scripts are served with a JavaScript content type and run in the page.
const clock = document.getElementById('clock');
function tick() {
  clock.textContent = `Script loaded; the time is ${new Date().toLocaleTimeString()}.`;
}
tick();
setInterval(tick, 1000);
