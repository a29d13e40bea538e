import { render } from 'preact';
import { html } from './ui/common.js';
import { App } from './ui/app.js';
import { Client } from './client.js';
import './styles.css';

const client = new Client();
window.natter = client; // for debugging from the console
render(html`<${App} client=${client} />`, document.getElementById('app'));
client.start().catch((e) => {
  console.error(e);
  client.ended('Could not start: ' + e.message);
});
