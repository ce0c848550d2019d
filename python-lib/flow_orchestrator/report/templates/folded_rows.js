/* Folded rows of a large run's report: each closed section holds its recipes as JSON lines in a <pre> (cheap for
   the browser to load, readable without scripts); opening the section turns them into table rows built with DOM
   calls only (textContent, setAttribute), exactly like the rows the report renders itself. */
(function () {
  "use strict";
  var script = document.currentScript;
  var report = script && script.closest ? script.closest(".fo-report") : null;
  /* A host page that inserts the report and then runs its script out of place (as jQuery's html() does) gets
     every report of the page wired; each section is wired once. */
  var scope = report || document;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function safeUrl(url) {
    /* Only what the report itself links to: http(s) URLs and root-relative DSS paths. */
    return typeof url === "string" && /^(https?:\/\/|\/(?!\/))/i.test(url) ? url : null;
  }

  function code(text) {
    return el("code", null, text);
  }

  function names(parent, list) {
    for (var i = 0; i < list.length; i++) {
      if (i > 0) {
        parent.appendChild(document.createTextNode(", "));
      }
      parent.appendChild(code(list[i]));
    }
  }

  function jobPage(pages, id) {
    /* The report's own quoting of a job id in its link (Python's quote with nothing safe). */
    var quoted = encodeURIComponent(String(id)).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    });
    return pages + quoted + "/";
  }

  function jobsCell(jobs, pages) {
    var cell = el("td");
    if (!jobs || !jobs.length) {
      cell.appendChild(el("span", "fo-muted", "\u2013"));
      return cell;
    }
    var list = el("ul", "fo-jobs");
    for (var i = 0; i < jobs.length; i++) {
      var job = jobs[i];
      var item = el("li");
      if (job[2]) {
        item.appendChild(el("span", "fo-muted", job[2]));
        item.appendChild(document.createTextNode(" "));
      }
      var holder = code(null);
      var url = job[1] ? safeUrl(job[1]) : pages ? jobPage(pages, job[0]) : null;
      if (url) {
        var link = el("a", null, job[0]);
        link.setAttribute("href", url);
        link.setAttribute("target", "_blank");
        link.setAttribute("rel", "noopener noreferrer");
        holder.appendChild(link);
      } else {
        holder.textContent = String(job[0]);
      }
      item.appendChild(holder);
      list.appendChild(item);
    }
    cell.appendChild(list);
    return cell;
  }

  function detailsCell(more) {
    var cell = el("td");
    if (!more) {
      return cell;
    }
    if (more.skipped_because && more.skipped_because.length) {
      var reason = el("span", "fo-skip-reason", "Skipped because ");
      names(reason, more.skipped_because);
      reason.appendChild(document.createTextNode(" failed."));
      cell.appendChild(reason);
    }
    var waited = more.waited_for_jobs;
    if (waited && waited.length) {
      var plural = waited.length > 1;
      var note = el("div", "fo-muted", "Waited for DSS job" + (plural ? "s " : " "));
      names(note, waited);
      note.appendChild(
        document.createTextNode(
          ", started elsewhere, to finish: " + (plural ? "they were" : "it was") + " building an output of this recipe."
        )
      );
      cell.appendChild(note);
    }
    if (typeof more.error === "string") {
      cell.appendChild(el("div", "fo-error-text", more.error));
    }
    if (more.retries) {
      cell.appendChild(el("div", "fo-muted", more.retries));
    }
    if (more.log) {
      var block = el("details");
      block.appendChild(el("summary", null, "Log excerpt"));
      block.appendChild(el("pre", "fo-log", more.log));
      cell.appendChild(block);
    }
    return cell;
  }

  /* One line: [position, name, attempts, duration, type, outputs, job group, jobs, details]. */
  function row(line, state, tone, pages) {
    var tr = el("tr", "fo-recipe-row fo-row-" + tone);
    tr.setAttribute("data-recipe", String(line[1]));
    tr.setAttribute("data-state", state);
    tr.appendChild(el("td", "fo-num", line[0]));
    var recipe = el("td");
    recipe.appendChild(el("span", "fo-name", line[1]));
    if (line[6]) {
      recipe.appendChild(el("span", "fo-marker fo-job-group", line[6]));
    }
    recipe.appendChild(el("br"));
    recipe.appendChild(el("span", "fo-muted fo-small", line[4] + (line[5] ? " \u2192 " + line[5] : "")));
    tr.appendChild(recipe);
    var badge = el("td");
    badge.appendChild(el("span", "fo-badge fo-tone-" + tone, state.replace(/_/g, " ")));
    tr.appendChild(badge);
    tr.appendChild(el("td", "fo-num", line[2]));
    tr.appendChild(el("td", "fo-num", line[3]));
    tr.appendChild(jobsCell(line[7], pages));
    tr.appendChild(detailsCell(line[8]));
    return tr;
  }

  /* Rows go into tables of CHUNK rows, each skipped by layout while out of view (content-visibility in the CSS):
     one table of 17,000 rows takes seconds to lay out, these take a few milliseconds each as they scroll in. */
  var CHUNK = 100;

  function chunk(columns) {
    var box = el("div", "fo-rows-chunk");
    var table = el("table", "fo-table fo-fixed fo-recipe-table");
    table.appendChild(columns.cloneNode(true));
    var body = el("tbody");
    table.appendChild(body);
    box.appendChild(table);
    return { box: box, body: body };
  }

  function fill(section) {
    if (section.getAttribute("data-rendered")) {
      return;
    }
    section.setAttribute("data-rendered", "1");
    var data = section.querySelector(".fo-rows-data");
    var holder = section.querySelector(".fo-folded-rows");
    var columns = holder && holder.querySelector("colgroup");
    if (!data || !columns) {
      return;
    }
    var state = section.getAttribute("data-state") || "";
    var tone = section.getAttribute("data-tone") || "other";
    var pages = safeUrl(section.getAttribute("data-job-pages"));
    var lines = data.textContent.split("\n");
    var chunks = document.createDocumentFragment();
    var current = null;
    var count = 0;
    try {
      for (var i = 1; i < lines.length; i++) {
        if (!lines[i]) {
          continue;
        }
        if (count % CHUNK === 0) {
          current = chunk(columns);
          chunks.appendChild(current.box);
        }
        current.body.appendChild(row(JSON.parse(lines[i]), state, tone, pages));
        count++;
      }
    } catch (error) {
      return; /* the lines stay readable as they are */
    }
    holder.appendChild(chunks);
    holder.hidden = false;
    data.hidden = true;
    var note = section.querySelector(".fo-folded-note");
    if (note) {
      note.hidden = true;
    }
  }

  var sections = scope.querySelectorAll("details.fo-folded");
  Array.prototype.forEach.call(sections, function (section) {
    if (section.getAttribute("data-wired")) {
      return;
    }
    section.setAttribute("data-wired", "1");
    var summary = section.querySelector("summary");
    if (summary) {
      /* A click fills the rows before the section opens; find-in-page opens it without a click (toggle). */
      summary.addEventListener("click", function () {
        fill(section);
      });
    }
    section.addEventListener("toggle", function () {
      if (section.open) {
        fill(section);
      }
    });
    if (section.open) {
      fill(section);
    }
  });
})();
