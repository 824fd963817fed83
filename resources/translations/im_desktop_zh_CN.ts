<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>ConnectionStatusBar</name>
    <message numerus="yes">
      <source>%n message(s) waiting to be sent</source>
      <translation>
        <numerusform>%n 条消息等待发送</numerusform>
      </translation>
    </message>
    <message>
      <source>At {time}.</source>
      <translation>时间：{time}。</translation>
    </message>
    <message>
      <source>Connecting…</source>
      <translation>正在连接…</translation>
    </message>
    <message>
      <source>Connection security</source>
      <translation>连接安全性</translation>
    </message>
    <message>
      <source>Connection status</source>
      <translation>连接状态</translation>
    </message>
    <message>
      <source>Connection status bar</source>
      <translation>连接状态栏</translation>
    </message>
    <message>
      <source>Logged in elsewhere: {reason}</source>
      <translation>已在别处登录：{reason}</translation>
    </message>
    <message>
      <source>Logged out</source>
      <translation>已退出登录</translation>
    </message>
    <message>
      <source>Messages waiting to be sent</source>
      <translation>等待发送的消息</translation>
    </message>
    <message>
      <source>Needs a new login ticket</source>
      <translation>需要新的登录票据</translation>
    </message>
    <message>
      <source>Not encrypted</source>
      <translation>未加密</translation>
    </message>
    <message>
      <source>Offline</source>
      <translation>离线</translation>
    </message>
    <message>
      <source>Offline: {reason}</source>
      <translation>离线：{reason}</translation>
    </message>
    <message>
      <source>Online</source>
      <translation>在线</translation>
    </message>
    <message>
      <source>Online as {user}</source>
      <translation>在线：{user}</translation>
    </message>
    <message>
      <source>Online as {user} · {server}</source>
      <translation>在线：{user} · {server}</translation>
    </message>
    <message>
      <source>Reconnecting in {seconds} s</source>
      <translation>{seconds} 秒后重连</translation>
    </message>
    <message>
      <source>Reconnecting…</source>
      <translation>正在重连…</translation>
    </message>
    <message>
      <source>Retry now</source>
      <translation>立即重试</translation>
    </message>
    <message>
      <source>Signed out by the server: {reason}</source>
      <translation>已被服务器登出：{reason}</translation>
    </message>
    <message>
      <source>The connection to this server is not encrypted: anyone on the network can read your messages and login ticket.</source>
      <translation>与此服务器的连接未加密：网络上的任何人都能读取你的消息和登录票据。</translation>
    </message>
    <message>
      <source>Try to connect now instead of waiting</source>
      <translation>立即尝试连接，不再等待</translation>
    </message>
  </context>
  <context>
    <name>Conversations</name>
    <message>
      <source>Only web (http, https) and e-mail links can be opened.</source>
      <translation>只能打开网页（http、https）和电子邮件链接。</translation>
    </message>
  </context>
  <context>
    <name>DesktopApp</name>
    <message>
      <source>The built-in server could not start: {reason}</source>
      <translation>内置服务器无法启动：{reason}</translation>
    </message>
    <message>
      <source>There is no system tray here, so closing this window quits the app.</source>
      <translation>这里没有系统托盘，所以关闭此窗口会退出应用。</translation>
    </message>
  </context>
  <context>
    <name>KickedDialog</name>
    <message>
      <source>&amp;Log out</source>
      <translation>退出登录(&amp;L)</translation>
    </message>
    <message>
      <source>&amp;Quit</source>
      <translation>退出程序(&amp;Q)</translation>
    </message>
    <message>
      <source>Code:</source>
      <translation>错误码：</translation>
    </message>
    <message>
      <source>Log &amp;in again</source>
      <translation>重新登录(&amp;I)</translation>
    </message>
    <message>
      <source>Logged out</source>
      <translation>已退出登录</translation>
    </message>
    <message>
      <source>Platform:</source>
      <translation>平台：</translation>
    </message>
    <message>
      <source>When:</source>
      <translation>时间：</translation>
    </message>
    <message>
      <source>You were logged out on this computer</source>
      <translation>你在这台电脑上已下线</translation>
    </message>
    <message>
      <source>Your messages and drafts stay on this computer, whichever you choose.</source>
      <translation>无论你选择哪一项，消息和草稿都会保留在这台电脑上。</translation>
    </message>
    <message>
      <source>today at {time}</source>
      <translation>今天 {time}</translation>
    </message>
    <message>
      <source>yesterday at {time}</source>
      <translation>昨天 {time}</translation>
    </message>
    <message>
      <source>{date} at {time}</source>
      <translation>{date} {time}</translation>
    </message>
    <message>
      <source>“Log in again” logs the other device out.</source>
      <translation>“重新登录”会让另一台设备下线。</translation>
    </message>
  </context>
  <context>
    <name>LinkDialog</name>
    <message>
      <source>Address</source>
      <translation>地址</translation>
    </message>
    <message>
      <source>Open</source>
      <translation>打开</translation>
    </message>
    <message>
      <source>Open link</source>
      <translation>打开链接</translation>
    </message>
    <message>
      <source>Open the address in the browser</source>
      <translation>在浏览器中打开这个地址</translation>
    </message>
    <message>
      <source>Open this address in your browser?</source>
      <translation>要在浏览器中打开这个地址吗？</translation>
    </message>
    <message>
      <source>Server: {host}</source>
      <translation>服务器：{host}</translation>
    </message>
  </context>
  <context>
    <name>LoginWindow</name>
    <message>
      <source>&amp;Log in</source>
      <translation>登录(&amp;L)</translation>
    </message>
    <message>
      <source>&amp;Other server…</source>
      <translation>其他服务器(&amp;O)…</translation>
    </message>
    <message>
      <source>&amp;Password:</source>
      <translation>密码(&amp;P)：</translation>
    </message>
    <message>
      <source>&amp;Server:</source>
      <translation>服务器(&amp;S)：</translation>
    </message>
    <message>
      <source>&amp;Ticket:</source>
      <translation>票据(&amp;T)：</translation>
    </message>
    <message>
      <source>&amp;Token:</source>
      <translation>令牌(&amp;T)：</translation>
    </message>
    <message>
      <source>&amp;UserID:</source>
      <translation>用户 ID(&amp;U)：</translation>
    </message>
    <message>
      <source>Access token</source>
      <translation>访问令牌</translation>
    </message>
    <message>
      <source>Add another server</source>
      <translation>添加其他服务器</translation>
    </message>
    <message>
      <source>Enter your password.</source>
      <translation>请输入密码。</translation>
    </message>
    <message>
      <source>Keyring note</source>
      <translation>密钥环提示</translation>
    </message>
    <message>
      <source>Leave empty if the server has none</source>
      <translation>如果服务器不需要令牌，请留空</translation>
    </message>
    <message>
      <source>Log in</source>
      <translation>登录</translation>
    </message>
    <message>
      <source>Log in to carry on; your conversations are kept on this computer.</source>
      <translation>请登录以继续；你的会话都保留在这台电脑上。</translation>
    </message>
    <message>
      <source>Log in — IM Desktop</source>
      <translation>登录 — IM Desktop</translation>
    </message>
    <message>
      <source>Logging in…</source>
      <translation>正在登录…</translation>
    </message>
    <message>
      <source>Login error</source>
      <translation>登录错误</translation>
    </message>
    <message>
      <source>Login progress</source>
      <translation>登录进度</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>密码</translation>
    </message>
    <message>
      <source>Paste a UserSig</source>
      <translation>粘贴 UserSig</translation>
    </message>
    <message>
      <source>Paste a UserSig.</source>
      <translation>请粘贴 UserSig。</translation>
    </message>
    <message>
      <source>Paste the whole UserSig here</source>
      <translation>在此粘贴完整的 UserSig</translation>
    </message>
    <message>
      <source>Re&amp;member me on this computer</source>
      <translation>在这台电脑上记住我(&amp;M)</translation>
    </message>
    <message>
      <source>Remember me</source>
      <translation>记住我</translation>
    </message>
    <message>
      <source>Sandbox ticket (no password)</source>
      <translation>沙盒票据（无需密码）</translation>
    </message>
    <message>
      <source>Server</source>
      <translation>服务器</translation>
    </message>
    <message>
      <source>Ticket source</source>
      <translation>票据来源</translation>
    </message>
    <message>
      <source>User&amp;Sig:</source>
      <translation>User&amp;Sig：</translation>
    </message>
    <message>
      <source>UserID</source>
      <translation>用户 ID</translation>
    </message>
    <message>
      <source>You stay logged in for this session only; nothing was lost.</source>
      <translation>本次运行期间保持登录；没有丢失任何数据。</translation>
    </message>
    <message>
      <source>letters, digits, _ and -</source>
      <translation>字母、数字、_ 和 -</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <source>&amp;Account</source>
      <translation>账号(&amp;A)</translation>
    </message>
    <message>
      <source>&amp;Conversations</source>
      <translation>会话(&amp;C)</translation>
    </message>
    <message>
      <source>&amp;Log out</source>
      <translation>退出登录(&amp;L)</translation>
    </message>
    <message>
      <source>&amp;New conversation…</source>
      <translation>新建会话(&amp;N)…</translation>
    </message>
    <message>
      <source>&amp;Quit</source>
      <translation>退出程序(&amp;Q)</translation>
    </message>
    <message>
      <source>&amp;Switch account…</source>
      <translation>切换账号(&amp;S)…</translation>
    </message>
    <message>
      <source>Conversation title</source>
      <translation>会话标题</translation>
    </message>
    <message>
      <source>Conversations</source>
      <translation>会话</translation>
    </message>
    <message>
      <source>Loading older messages…</source>
      <translation>正在加载更早的消息…</translation>
    </message>
    <message>
      <source>Logged in as {user}</source>
      <translation>已登录：{user}</translation>
    </message>
    <message>
      <source>Message</source>
      <translation>消息</translation>
    </message>
    <message>
      <source>Message {user}</source>
      <translation>给 {user} 发消息</translation>
    </message>
    <message>
      <source>Messages</source>
      <translation>消息记录</translation>
    </message>
    <message>
      <source>New conversation</source>
      <translation>新建会话</translation>
    </message>
    <message>
      <source>S&amp;ettings…</source>
      <translation>设置(&amp;E)…</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>发送</translation>
    </message>
    <message>
      <source>Send message</source>
      <translation>发送消息</translation>
    </message>
    <message>
      <source>Start a new conversation</source>
      <translation>开始新的会话</translation>
    </message>
    <message>
      <source>This is the beginning of the conversation.</source>
      <translation>这是会话的开头。</translation>
    </message>
    <message>
      <source>Write a message…</source>
      <translation>输入消息…</translation>
    </message>
    <message>
      <source>im-desktop</source>
      <translation>im-desktop</translation>
    </message>
    <message>
      <source>im-desktop — {user}</source>
      <translation>im-desktop — {user}</translation>
    </message>
  </context>
  <context>
    <name>MessageDelegate</name>
    <message>
      <source>New messages</source>
      <translation>新消息</translation>
    </message>
  </context>
  <context>
    <name>MessageView</name>
    <message>
      <source>Jump to latest</source>
      <translation>跳到最新</translation>
    </message>
    <message>
      <source>Jump to latest ↓</source>
      <translation>跳到最新 ↓</translation>
    </message>
    <message>
      <source>{count} new ↓</source>
      <translation>{count} 条新消息 ↓</translation>
    </message>
  </context>
  <context>
    <name>NewConversationDialog</name>
    <message>
      <source>&amp;Open</source>
      <translation>打开(&amp;O)</translation>
    </message>
    <message>
      <source>&amp;Who:</source>
      <translation>对方(&amp;W)：</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>New conversation</source>
      <translation>新建会话</translation>
    </message>
    <message>
      <source>Open the conversation</source>
      <translation>打开会话</translation>
    </message>
    <message>
      <source>Problem</source>
      <translation>问题</translation>
    </message>
    <message>
      <source>UserID</source>
      <translation>用户 ID</translation>
    </message>
    <message>
      <source>Write to someone directly: type their UserID.</source>
      <translation>直接给某人发消息：输入对方的用户 ID。</translation>
    </message>
    <message>
      <source>letters, digits, _ and -</source>
      <translation>字母、数字、_ 和 -</translation>
    </message>
  </context>
  <context>
    <name>Notifications</name>
    <message>
      <source>Open</source>
      <translation>打开</translation>
    </message>
    <message>
      <source>{sender} in {conversation}</source>
      <translation>{sender}（{conversation}）</translation>
    </message>
  </context>
  <context>
    <name>ServerDialog</name>
    <message>
      <source>&amp;Address:</source>
      <translation>地址(&amp;A)：</translation>
    </message>
    <message>
      <source>&amp;CA certificate:</source>
      <translation>CA 证书(&amp;C)：</translation>
    </message>
    <message>
      <source>&amp;Kind:</source>
      <translation>类型(&amp;K)：</translation>
    </message>
    <message>
      <source>&amp;Name:</source>
      <translation>名称(&amp;N)：</translation>
    </message>
    <message>
      <source>&amp;Proxy:</source>
      <translation>代理(&amp;P)：</translation>
    </message>
    <message>
      <source>&amp;Ticket server:</source>
      <translation>票据服务器(&amp;T)：</translation>
    </message>
    <message>
      <source>Address: {problem}.</source>
      <translation>地址：{problem}。</translation>
    </message>
    <message>
      <source>All files (*)</source>
      <translation>所有文件 (*)</translation>
    </message>
    <message>
      <source>Allow an unencrypted connection to this server (not recommended)</source>
      <translation>允许与此服务器建立未加密的连接（不推荐）</translation>
    </message>
    <message>
      <source>An http:// address is unencrypted: use https://, or allow it below if you must.</source>
      <translation>http:// 地址不加密：请使用 https://，确有必要时可在下方允许。</translation>
    </message>
    <message>
      <source>Anyone on the network between you and the server could read your password, login ticket and messages.</source>
      <translation>你与服务器之间网络上的任何人都能读取你的密码、登录票据和消息。</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Built-in sandbox</source>
      <translation>内置沙盒</translation>
    </message>
    <message>
      <source>CA certificate file</source>
      <translation>CA 证书文件</translation>
    </message>
    <message>
      <source>CA certificate: {problem}.</source>
      <translation>CA 证书：{problem}。</translation>
    </message>
    <message>
      <source>Certificates (*.pem *.crt *.cer)</source>
      <translation>证书 (*.pem *.crt *.cer)</translation>
    </message>
    <message>
      <source>Choose a CA certificate file</source>
      <translation>选择 CA 证书文件</translation>
    </message>
    <message>
      <source>Empty: the system's proxy settings. “direct”: no proxy at all.</source>
      <translation>留空：使用系统的代理设置。“direct”：不使用代理。</translation>
    </message>
    <message>
      <source>Give the server a name.</source>
      <translation>请为服务器起个名字。</translation>
    </message>
    <message>
      <source>Kind of server</source>
      <translation>服务器类型</translation>
    </message>
    <message>
      <source>Name</source>
      <translation>名称</translation>
    </message>
    <message>
      <source>Other Satori server (token)</source>
      <translation>其他 Satori 服务器（令牌）</translation>
    </message>
    <message>
      <source>Other server</source>
      <translation>其他服务器</translation>
    </message>
    <message>
      <source>Problem</source>
      <translation>问题</translation>
    </message>
    <message>
      <source>Proxy</source>
      <translation>代理</translation>
    </message>
    <message>
      <source>Proxy: {problem}.</source>
      <translation>代理：{problem}。</translation>
    </message>
    <message>
      <source>Server address</source>
      <translation>服务器地址</translation>
    </message>
    <message>
      <source>Ticket server address</source>
      <translation>票据服务器地址</translation>
    </message>
    <message>
      <source>Ticket server: {problem}.</source>
      <translation>票据服务器：{problem}。</translation>
    </message>
    <message>
      <source>Trusted for this server besides the system's certificate authorities.</source>
      <translation>连接此服务器时，除系统的证书颁发机构外也信任此证书。</translation>
    </message>
    <message>
      <source>im-desktop server (UserSig login)</source>
      <translation>im-desktop 服务器（UserSig 登录）</translation>
    </message>
    <message>
      <source>optional: http://host:port or socks5://host:port</source>
      <translation>可选：http://主机:端口 或 socks5://主机:端口</translation>
    </message>
    <message>
      <source>optional: your company's UserSig endpoint</source>
      <translation>可选：贵公司的 UserSig 接口</translation>
    </message>
    <message>
      <source>optional: your organisation's CA certificate (PEM)</source>
      <translation>可选：你所在组织的 CA 证书（PEM）</translation>
    </message>
  </context>
  <context>
    <name>SettingsDialog</name>
    <message>
      <source>&amp;Language:</source>
      <translation>语言(&amp;L)：</translation>
    </message>
    <message>
      <source>&amp;Theme:</source>
      <translation>主题(&amp;T)：</translation>
    </message>
    <message>
      <source>A new language is used from the next start of im-desktop.</source>
      <translation>新的语言将在 im-desktop 下次启动时生效。</translation>
    </message>
    <message>
      <source>Could not change whether im-desktop starts at login: {reason}</source>
      <translation>无法更改 im-desktop 是否在登录时启动：{reason}</translation>
    </message>
    <message>
      <source>Dark</source>
      <translation>深色</translation>
    </message>
    <message>
      <source>Language</source>
      <translation>语言</translation>
    </message>
    <message>
      <source>Light</source>
      <translation>浅色</translation>
    </message>
    <message>
      <source>Notifications</source>
      <translation>通知</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <source>Show &amp;notifications for new messages</source>
      <translation>新消息显示通知(&amp;N)</translation>
    </message>
    <message>
      <source>Start &amp;hidden in the tray</source>
      <translation>启动时隐藏到托盘(&amp;H)</translation>
    </message>
    <message>
      <source>Start at login</source>
      <translation>登录时启动</translation>
    </message>
    <message>
      <source>Start hidden in the tray</source>
      <translation>启动时隐藏到托盘</translation>
    </message>
    <message>
      <source>Start im-desktop when I &amp;log in</source>
      <translation>我登录系统时启动 im-desktop(&amp;L)</translation>
    </message>
    <message>
      <source>System</source>
      <translation>跟随系统</translation>
    </message>
    <message>
      <source>System language</source>
      <translation>系统语言</translation>
    </message>
    <message>
      <source>Theme</source>
      <translation>主题</translation>
    </message>
    <message>
      <source>There is no system tray here, so the window always opens.</source>
      <translation>这里没有系统托盘，所以窗口总会打开。</translation>
    </message>
  </context>
  <context>
    <name>TicketDialog</name>
    <message>
      <source>&amp;Log in</source>
      <translation>登录(&amp;L)</translation>
    </message>
    <message>
      <source>&amp;Password:</source>
      <translation>密码(&amp;P)：</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Enter the password for {user} to carry on.</source>
      <translation>请输入 {user} 的密码以继续。</translation>
    </message>
    <message>
      <source>Log in</source>
      <translation>登录</translation>
    </message>
    <message>
      <source>Log in again</source>
      <translation>重新登录</translation>
    </message>
    <message>
      <source>Login ticket expired</source>
      <translation>登录票据已过期</translation>
    </message>
    <message>
      <source>Password</source>
      <translation>密码</translation>
    </message>
    <message>
      <source>Paste a new UserSig for {user} to carry on.</source>
      <translation>请粘贴 {user} 的新 UserSig 以继续。</translation>
    </message>
    <message>
      <source>Paste the whole UserSig here</source>
      <translation>在此粘贴完整的 UserSig</translation>
    </message>
    <message>
      <source>User&amp;Sig:</source>
      <translation>User&amp;Sig：</translation>
    </message>
    <message>
      <source>UserSig</source>
      <translation>UserSig</translation>
    </message>
    <message>
      <source>Your drafts and the open conversation are kept.</source>
      <translation>你的草稿和当前会话都会保留。</translation>
    </message>
    <message>
      <source>Your login ticket has expired</source>
      <translation>你的登录票据已过期</translation>
    </message>
  </context>
  <context>
    <name>TrayIcon</name>
    <message numerus="yes">
      <source>%n unread message(s)</source>
      <translation>
        <numerusform>%n 条未读消息</numerusform>
      </translation>
    </message>
    <message>
      <source>Connecting…</source>
      <translation>正在连接…</translation>
    </message>
    <message>
      <source>Log out</source>
      <translation>退出登录</translation>
    </message>
    <message>
      <source>Needs a new login ticket</source>
      <translation>需要新的登录票据</translation>
    </message>
    <message>
      <source>Offline</source>
      <translation>离线</translation>
    </message>
    <message>
      <source>Online</source>
      <translation>在线</translation>
    </message>
    <message>
      <source>Open</source>
      <translation>打开</translation>
    </message>
    <message>
      <source>Quit</source>
      <translation>退出</translation>
    </message>
    <message>
      <source>Reconnect now</source>
      <translation>立即重连</translation>
    </message>
    <message>
      <source>Reconnecting in {seconds} s</source>
      <translation>{seconds} 秒后重连</translation>
    </message>
    <message>
      <source>Signed out by the server</source>
      <translation>已被服务器登出</translation>
    </message>
    <message>
      <source>The connection is not encrypted</source>
      <translation>连接未加密</translation>
    </message>
    <message>
      <source>im-desktop tray menu</source>
      <translation>im-desktop 托盘菜单</translation>
    </message>
    <message>
      <source>im-desktop — {state}</source>
      <translation>im-desktop — {state}</translation>
    </message>
  </context>
  <context>
    <name>UserIdHint</name>
    <message>
      <source>At most {limit} bytes ({used} now).</source>
      <translation>最多 {limit} 字节（当前 {used}）。</translation>
    </message>
    <message>
      <source>Enter a UserID.</source>
      <translation>请输入用户 ID。</translation>
    </message>
    <message>
      <source>Only letters, digits, _ and - (not {char}).</source>
      <translation>只能使用字母、数字、_ 和 -（不能用 {char}）。</translation>
    </message>
    <message>
      <source>space</source>
      <translation>空格</translation>
    </message>
  </context>
  <context>
    <name>_FailedRow</name>
    <message>
      <source>Delete</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>Delete this unsent message</source>
      <translation>删除这条未发送的消息</translation>
    </message>
    <message>
      <source>Retry</source>
      <translation>重试</translation>
    </message>
    <message>
      <source>Send this message again</source>
      <translation>重新发送这条消息</translation>
    </message>
  </context>
  <context>
    <name>messages</name>
    <message>
      <source>A UserID may only use letters, digits, '_' and '-', at most 32 of them.</source>
      <translation>用户 ID 只能使用字母、数字、“_”和“-”，最多 32 个。</translation>
    </message>
    <message>
      <source>A login is already in progress. Please wait a moment.</source>
      <translation>正在登录中，请稍候。</translation>
    </message>
    <message>
      <source>An administrator ended your sessions.</source>
      <translation>管理员结束了你的所有会话。</translation>
    </message>
    <message>
      <source>An unencrypted connection to {detail} was refused: passwords and tickets would cross the network in clear text. Use an https:// address, or allow an unencrypted connection for this server.</source>
      <translation>已拒绝与 {detail} 建立未加密的连接：密码和票据会以明文在网络上传输。请使用 https:// 地址，或为此服务器允许未加密的连接。</translation>
    </message>
    <message>
      <source>Device: {device} ({platform}).</source>
      <translation>设备：{device}（{platform}）。</translation>
    </message>
    <message>
      <source>Something unexpected went wrong. The details are in the log.</source>
      <translation>发生了意外错误。详细信息见日志。</translation>
    </message>
    <message>
      <source>Something went wrong.</source>
      <translation>出了点问题。</translation>
    </message>
    <message>
      <source>The CA certificate file of this server cannot be used: {detail}.</source>
      <translation>无法使用此服务器的 CA 证书文件：{detail}。</translation>
    </message>
    <message>
      <source>The login ticket belongs to another UserID.</source>
      <translation>该登录票据属于另一个用户 ID。</translation>
    </message>
    <message>
      <source>The login ticket could not be read. Was it copied completely?</source>
      <translation>无法读取登录票据。是否完整复制了？</translation>
    </message>
    <message>
      <source>The login ticket is empty. Paste a UserSig or choose another ticket source.</source>
      <translation>登录票据为空。请粘贴 UserSig 或选择其他票据来源。</translation>
    </message>
    <message>
      <source>The login ticket was made for another app (SDKAppID).</source>
      <translation>该登录票据属于另一个应用（SDKAppID）。</translation>
    </message>
    <message>
      <source>The login ticket was not made for this server. Check the server and the ticket.</source>
      <translation>该登录票据不是为此服务器签发的。请检查服务器和票据。</translation>
    </message>
    <message>
      <source>The security certificate of {detail} has expired or is not valid yet. Check this computer's date and time; if they are right, the server's operator must renew the certificate.</source>
      <translation>{detail} 的安全证书已过期或尚未生效。请检查本机的日期和时间；如果无误，需由服务器管理员更新证书。</translation>
    </message>
    <message>
      <source>The security certificate of {detail} is self-signed or from an issuer this computer does not trust. If your organisation has its own certificate authority, add the server again with its CA certificate file.</source>
      <translation>{detail} 的安全证书是自签名的，或由本机不信任的机构签发。如果你所在组织有自己的证书颁发机构，请使用其 CA 证书文件重新添加此服务器。</translation>
    </message>
    <message>
      <source>The security certificate of {detail} was made for another name. Check the address; someone may be intercepting the connection.</source>
      <translation>{detail} 的安全证书是为其他名称签发的。请检查地址；可能有人正在拦截此连接。</translation>
    </message>
    <message>
      <source>The server cannot be reached. Check your network; the app keeps trying.</source>
      <translation>无法连接服务器。请检查网络；应用会继续重试。</translation>
    </message>
    <message>
      <source>The server did not accept the request.</source>
      <translation>服务器未接受该请求。</translation>
    </message>
    <message>
      <source>The server did not answer in time. The app keeps trying.</source>
      <translation>服务器未及时响应。应用会继续重试。</translation>
    </message>
    <message>
      <source>The server does not offer this.</source>
      <translation>服务器不支持此功能。</translation>
    </message>
    <message>
      <source>The server had a problem. Please try again later.</source>
      <translation>服务器出现问题，请稍后再试。</translation>
    </message>
    <message>
      <source>The server refused the credentials. Check the token or password.</source>
      <translation>服务器拒绝了凭据。请检查令牌或密码。</translation>
    </message>
    <message>
      <source>The server's reply could not be understood. Is the address right?</source>
      <translation>无法理解服务器的回复。地址是否正确？</translation>
    </message>
    <message>
      <source>The server's security certificate was refused ({detail}).</source>
      <translation>服务器的安全证书被拒绝（{detail}）。</translation>
    </message>
    <message>
      <source>There is no such account.</source>
      <translation>没有这个账号。</translation>
    </message>
    <message>
      <source>This account was logged in somewhere else.</source>
      <translation>此账号已在其他地方登录。</translation>
    </message>
    <message>
      <source>This computer could not read or write the app's files. Is the disk full?</source>
      <translation>这台电脑无法读写本应用的文件。磁盘是否已满？</translation>
    </message>
    <message>
      <source>Too many failed logins. Check your ticket and try again in a minute.</source>
      <translation>登录失败次数过多。请检查票据，一分钟后再试。</translation>
    </message>
    <message>
      <source>You are not logged in any more. Please log in again.</source>
      <translation>你已不再处于登录状态，请重新登录。</translation>
    </message>
    <message>
      <source>Your account was logged in on another device.</source>
      <translation>你的账号已在另一台设备上登录。</translation>
    </message>
    <message>
      <source>Your account was logged in on another {platform} instance.</source>
      <translation>你的账号已在另一个 {platform} 实例上登录。</translation>
    </message>
    <message>
      <source>Your login ticket has expired. Get a new one and log in again.</source>
      <translation>你的登录票据已过期。请获取新票据后重新登录。</translation>
    </message>
    <message>
      <source>Your login ticket was withdrawn. Get a new one and log in again.</source>
      <translation>你的登录票据已被作废。请获取新票据后重新登录。</translation>
    </message>
    <message>
      <source>Your session was ended by the server.</source>
      <translation>你的会话已被服务器结束。</translation>
    </message>
    <message>
      <source>code</source>
      <translation>错误码</translation>
    </message>
    <message>
      <source>the server</source>
      <translation>服务器</translation>
    </message>
    <message>
      <source>this</source>
      <translation>此</translation>
    </message>
  </context>
</TS>
