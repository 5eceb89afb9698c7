// Registers the site's service worker (sw.js). On a host that sets no COOP/COEP headers, the page
// is not cross-origin isolated on its first load; once the worker controls the page, one reload
// makes it so. The reload happens once per tab session, so a browser that cannot isolate a page
// is not sent round in circles: Python then stops a runaway program by restarting its worker.
(() => {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  const key = "cotnpot-isolation-reload";
  const reload = () => {
    if (window.crossOriginIsolated || sessionStorage.getItem(key)) return;
    sessionStorage.setItem(key, "1");
    location.reload();
  };
  if (window.crossOriginIsolated) sessionStorage.removeItem(key);
  navigator.serviceWorker.register("./sw.js").then(
    () => {
      if (navigator.serviceWorker.controller) reload();
      else navigator.serviceWorker.addEventListener("controllerchange", reload, { once: true });
    },
    (error) => console.warn(`the offline copy is unavailable: ${error}`),
  );
})();
