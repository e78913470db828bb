// Charts of a device's history with plotly.js, which smartby serves from the plotly package. It is
// loaded only once the map is drawn (it is large), and shared by every chart.

let loading = null;

export function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = url;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        loading = null;
        reject(new Error('plotly.js did not load'));
      };
      document.head.append(script);
    });
  }
  return loading;
}

const zoned = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Copenhagen', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

// An ISO 8601 UTC time as Copenhagen wall-clock time, which plotly draws as it is.
function localTime(text) {
  const p = {};
  for (const part of zoned.formatToParts(new Date(text))) p[part.type] = part.value;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

const WORDS = { '24h': 'over the last 24 hours', '7d': 'over 7 days, hourly mean' };

function describe(s, span) {
  const last = s.values[s.values.length - 1];
  const unit = s.unit ? ` ${s.unit}` : '';
  return `${s.name} ${WORDS[span] || ''}: ${s.values.length} points, latest ${formatNumber(last)}${unit}`;
}

export function formatNumber(value) {
  if (typeof value !== 'number') return String(value);
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return value.toLocaleString('en-GB', { maximumFractionDigits: digits });
}

// Draw one small chart per series into `container`; resolves to the number of points drawn.
export async function drawCharts(container, series, { plotlyUrl, span, colour }) {
  const Plotly = await loadPlotly(plotlyUrl);
  for (const old of container.querySelectorAll('.chart')) Plotly.purge(old);
  container.replaceChildren();
  let points = 0;
  for (const s of series) {
    const figure = document.createElement('figure');
    figure.className = 'chart-figure';
    const plot = document.createElement('div');
    plot.className = 'chart';
    plot.setAttribute('role', 'img');
    plot.setAttribute('aria-label', describe(s, span));
    plot.dataset.points = String(s.values.length);
    const caption = document.createElement('figcaption');
    caption.textContent = s.unit ? `${s.name} (${s.unit})` : s.name;
    figure.append(caption, plot);
    container.append(figure);
    const unit = s.unit ? ` ${s.unit}` : '';
    await Plotly.newPlot(
      plot,
      [{
        x: s.times.map(localTime),
        y: s.values,
        type: 'scatter',
        mode: s.values.length <= 48 ? 'lines+markers' : 'lines',
        line: { color: colour || '#1d4e89', width: 1.6, shape: s.aggregated ? 'hv' : 'linear' },
        marker: { size: 4 },
        hovertemplate: `%{y:.4~g}${unit}<br>%{x|%d %b %H:%M}<extra></extra>`,
      }],
      {
        height: 170,
        margin: { l: 48, r: 12, t: 8, b: 32 },
        xaxis: { type: 'date', fixedrange: true },
        yaxis: { title: { text: s.unit || '' }, fixedrange: true, zeroline: false },
        showlegend: false,
        paper_bgcolor: 'rgba(0,0,0,0)',
        plot_bgcolor: 'rgba(0,0,0,0)',
      },
      { displayModeBar: false, responsive: true },
    );
    points += s.values.length;
  }
  return points;
}
