-- Headless Neovim (0.7 or later) as a writer's editor: its built-in LSP client starts `charwriter lsp`, the test's
-- Markdown file is open, a sentence is typed at its end, and completion is asked for at the cursor. The items it
-- received are written one per line (label, a tab, detail) to $CHARWRITER_OUT.
local out = os.getenv("CHARWRITER_OUT")
local ready = false
local client_id = vim.lsp.start_client({
  name = "charwriter",
  cmd = vim.fn.json_decode(os.getenv("CHARWRITER_LSP_CMD")),
  root_dir = vim.fn.getcwd(),
  init_options = { adapt = false },
  flags = { debounce_text_changes = 0 },
  on_init = function() ready = true end,
})
vim.lsp.buf_attach_client(0, client_id)
if not vim.wait(60000, function() return ready end, 50) then
  vim.fn.writefile({ "error: the server did not initialize" }, out)
  vim.cmd("qa!")
end
local last = vim.api.nvim_buf_line_count(0)
local line = vim.api.nvim_buf_get_lines(0, last - 1, last, false)[1]
local typed = " She walked along the wat"
vim.api.nvim_buf_set_text(0, last - 1, #line, last - 1, #line, { typed })
-- the cursor as in insert mode, after the last character typed (ASCII: bytes are UTF-16 units)
local params = { textDocument = vim.lsp.util.make_text_document_params(),
                 position = { line = last - 1, character = #line + #typed } }
local results = vim.lsp.buf_request_sync(0, "textDocument/completion", params, 60000)
local lines = {}
for _, response in pairs(results or {}) do
  if response.err then
    table.insert(lines, "error: " .. vim.inspect(response.err))
  elseif response.result then
    for _, item in ipairs(response.result.items or response.result) do
      table.insert(lines, item.label .. "\t" .. (item.detail or ""))
    end
  end
end
if #lines == 0 then table.insert(lines, "error: no answer") end
vim.fn.writefile(lines, out)
vim.lsp.stop_client(client_id)
vim.cmd("qa!")
